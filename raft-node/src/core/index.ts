export * from './types';
export { Raft } from './raft';
export { RaftInvariantError, parseConfChangeEntry } from './log';
