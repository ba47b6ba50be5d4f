/** Identifier of a Raft member (opaque to the core). */
export type NodeId = string;

export type EntryType = 'normal' | 'noop' | 'config';

/**
 * One log entry. `data` is opaque for `normal` entries, '' for `noop`, and for `config` the JSON of a
 * {@link ConfChangeEntryData} (the change plus the whole configuration it produces).
 */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: string;
}

export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface ClusterConfig {
  voters: NodeId[];
  learners: NodeId[];
}

/** A single-server membership change. `context` is opaque to the core (the node layer keeps addresses there). */
export interface ConfChange {
  type: 'addLearner' | 'promote' | 'remove';
  nodeId: NodeId;
  context?: string;
}

/**
 * What a `config` entry carries: the change and the configuration that results from it. Carrying the whole
 * configuration lets a node that replays the log from any point (a joining node, a restarted one) know the
 * membership without knowing how the cluster was bootstrapped.
 */
export interface ConfChangeEntryData extends ConfChange {
  config: ClusterConfig;
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

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

/** Pre-vote (thesis §9.6): asks whether the sender could win an election at `term` (= its term + 1) without bumping any term. */
export interface PreVoteMessage extends MessageBase {
  type: 'PreVote';
  lastIndex: number;
  lastTerm: number;
}
export interface PreVoteRespMessage extends MessageBase {
  type: 'PreVoteResp';
  reject: boolean;
}
export interface VoteMessage extends MessageBase {
  type: 'Vote';
  lastIndex: number;
  lastTerm: number;
  /** Set when the election was started by a leadership transfer: voters skip the leader-lease check. */
  transfer: boolean;
}
export interface VoteRespMessage extends MessageBase {
  type: 'VoteResp';
  reject: boolean;
}
export interface AppendMessage extends MessageBase {
  type: 'Append';
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}
export interface AppendRespMessage extends MessageBase {
  type: 'AppendResp';
  /** On success: the last index known to match the leader. On reject: the rejected `prevIndex`. */
  index: number;
  reject: boolean;
  /** On reject: the first index of `conflictTerm` in the follower's log, or its last index when `conflictTerm` is 0. */
  rejectHint: number;
  /** On reject: the follower's term at the rejected index, or 0 when its log is shorter than that index. */
  conflictTerm: number;
}
export interface HeartbeatMessage extends MessageBase {
  type: 'Heartbeat';
  commit: number;
  /** ReadIndex round this heartbeat confirms leadership for, if any. */
  context: string | null;
}
export interface HeartbeatRespMessage extends MessageBase {
  type: 'HeartbeatResp';
  context: string | null;
}
export interface SnapshotMessage extends MessageBase {
  type: 'Snapshot';
  snapshot: Snapshot;
}
export interface TimeoutNowMessage extends MessageBase {
  type: 'TimeoutNow';
}
export interface ReadIndexMessage extends MessageBase {
  type: 'ReadIndex';
  context: string;
}
export interface ReadIndexRespMessage extends MessageBase {
  type: 'ReadIndexResp';
  context: string;
  index: number;
}
export interface TransferLeaderMessage extends MessageBase {
  type: 'TransferLeader';
  target: NodeId;
}

/** Every message between Raft nodes; plain JSON so the transport can serialize it as is. */
export type Message =
  | PreVoteMessage
  | PreVoteRespMessage
  | VoteMessage
  | VoteRespMessage
  | AppendMessage
  | AppendRespMessage
  | HeartbeatMessage
  | HeartbeatRespMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexRespMessage
  | TransferLeaderMessage;

export type MessageType = Message['type'];

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [electionTick, 2*electionTick)). */
  electionTick: number;
  heartbeatTick: number;
  /** Bound on un-acknowledged Append messages per follower in replicate state. */
  maxInflightMsgs: number;
  /** Most entries in one Append message. */
  maxEntriesPerAppend: number;
  checkQuorum: boolean;
  preVote: boolean;
  /** Seeded source in [0,1); used only for randomized election timeouts. */
  random: () => number;
  /** Ticks a leadership transfer may take before it is abandoned (default: electionTick). */
  transferTimeoutTicks?: number;
}

export interface RestoredState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Durable entries after the snapshot (contiguous, starting at snapshot index + 1). */
  entries: Entry[];
  /**
   * Membership before the first entry when there is no snapshot: `{voters: [self]}` on the node that bootstrapped
   * the cluster (on every start), empty on a node that joins. Ignored when there is a snapshot.
   */
  config: ClusterConfig;
}

export type Role = 'leader' | 'follower' | 'candidate' | 'pre-candidate';

export interface SoftState {
  role: Role;
  leaderId: NodeId | null;
  term: number;
}

export interface ReadState {
  context: string;
  index: number;
}

export interface Ready {
  softState: SoftState;
  /** Persist if non-null. */
  hardState: HardState | null;
  /** Append to the durable log; if the first entry's index is <= the last durable index, truncate the tail from there first. */
  entries: Entry[];
  /** Received from the leader: persist, then restore the state machine from it (before applying committedEntries). */
  snapshot: Snapshot | null;
  /** Apply in order, after persisting this Ready. */
  committedEntries: Entry[];
  /** Send only after entries/hardState/snapshot of this Ready are durable. */
  messages: Message[];
  /**
   * A leader's Append/Heartbeat/Snapshot messages: send at once, while this Ready is being persisted (thesis
   * §10.2.1). Safe because the leader counts its own entries only once advance() reports them durable.
   */
  messagesNow: Message[];
  /** ReadIndex answers: serve the read with this context once applied >= index. */
  readStates: ReadState[];
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  inflight: number;
  learner: boolean;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId | null;
  leaderId: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  config: ClusterConfig;
  /** Only on the leader. */
  progress?: Record<NodeId, ProgressStatus>;
  /** Only on the leader while a transfer runs. */
  transferee?: NodeId;
}

export type ProposeRejection = 'not-leader' | 'transferring' | 'config-change-pending' | 'invalid-conf-change';

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | { ok: false; reason: ProposeRejection; leaderId: NodeId | null; detail?: string };
