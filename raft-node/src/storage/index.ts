export {
  RaftStorage,
  StorageCorruptionError,
  LOG_FILE,
  SNAPSHOT_FILE,
  DEFAULT_PREALLOCATE_BYTES,
} from './raft-storage';
export type { RestoredState, RecoveryInfo, StorageOptions } from './raft-storage';
