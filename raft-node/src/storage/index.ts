export {
  RaftStorage,
  StorageCorruptionError,
  WalDamagedError,
  LOG_FILE,
  SNAPSHOT_FILE,
  SNAPSHOT_TAKE_FILE,
  SNAPSHOT_RECEIVE_FILE,
  SNAPSHOT_RECEIVE_STORE_FILE,
  DEFAULT_PREALLOCATE_BYTES,
  writeFully,
} from './raft-storage';
export type { RestoredState, RecoveryInfo, StorageOptions } from './raft-storage';
export { SYNCED_MARK_FILE } from './synced-mark';
export { DataDirLock, DataDirLockedError, LOCK_FILE, staleReason, type LockHolder } from './data-dir-lock';
export {
  checkIdentity,
  IdentityMismatchError,
  IDENTITY_FILE,
  readIdentity,
  settleIdentity,
  writeIdentity,
} from './identity';
export type { NodeIdentity } from './identity';
export { DataDirRefusedError } from './refusal';
export {
  coreSnapshot,
  FramedSnapshotReader,
  parseDescriptor,
  readSnapshotInfo,
  readSnapshotRecords,
  writeSnapshotFile,
  writeSnapshotFileAsync,
  SnapshotFormatError,
  SnapshotStreamParser,
  type SnapshotStreamSink,
  type SnapshotRecord,
  type SnapshotHeader,
  type SnapshotFileInfo,
  type FramedSnapshot,
} from './snapshot-stream';
export { SqliteOrderStore, LEDGER_DB_FILE, readStoreState, removeStoreFiles } from './sqlite-order-store';
export {
  checkLedgerSnapshot,
  frameStoreCopy,
  isStoreRef,
  finishStoreInstall,
  restoreStoreFile,
  settleStoreInstall,
  stageStoreInstall,
  StoreIntake,
  storeRefRecords,
  storeSnapshotRecords,
} from './ledger-snapshot';
