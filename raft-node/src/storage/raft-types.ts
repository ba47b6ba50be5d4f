/**
 * The Raft core's persisted types, declared here structurally until raft-node/src/core exports them;
 * storage only depends on their shape.
 */
export interface Entry {
  index: number;
  term: number;
  type: 'normal' | 'noop' | 'config';
  data: string;
}

export interface HardState {
  term: number;
  vote: string | null;
  commit: number;
}

export interface ClusterConfig {
  voters: string[];
  learners: string[];
}

export interface SnapshotMeta {
  index: number;
  term: number;
  config: ClusterConfig;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: string;
}
