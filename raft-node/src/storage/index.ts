export { RaftStorage, StorageCorruptionError, LOG_FILE, SNAPSHOT_FILE } from './raft-storage';
export type { RestoredState, RecoveryInfo } from './raft-storage';
