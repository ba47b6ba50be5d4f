import { cloneConfig, RaftInvariantError, RaftLog } from './log';
import { Progress } from './progress';
import { ReadOnlyQueue } from './read-only';
import type {
  AppendMessage,
  AppendRespMessage,
  ClusterConfig,
  ConfChange,
  ConfChangeEntryData,
  Entry,
  HardState,
  HeartbeatMessage,
  HeartbeatRespMessage,
  Message,
  NodeId,
  ProgressStatus,
  ProposeResult,
  RaftConfig,
  RaftStatus,
  ReadState,
  Ready,
  RestoredState,
  Role,
  Snapshot,
  SnapshotMessage,
  SnapshotMeta,
  SoftState,
} from './types';

type MessageDraft = Message extends infer M ? (M extends Message ? Omit<M, 'from'> : never) : never;

type CampaignKind = 'pre-vote' | 'election' | 'transfer';

/** What the last ready() handed out, so advance() can mark exactly that as durable and applied. */
interface InFlightReady {
  hardState: HardState;
  softState: SoftState;
  lastEntry: { index: number; term: number } | null;
  snapshotIndex: number | null;
  appliedTo: number | null;
}

/**
 * A leader's replication traffic claims nothing about its own disk, so it may leave before the Ready carrying it is
 * durable (thesis §10.2.1); everything else (votes, acknowledgements, read answers, TimeoutNow) waits for it.
 */
const SEND_BEFORE_DURABLE = new Set<Message['type']>(['Append', 'Heartbeat', 'Snapshot']);

/**
 * A Raft node with no I/O and no clock (in the style of etcd-io/raft): the caller feeds ticks and messages in and
 * drains Ready batches — entries and hard state to persist, messages to send after persisting, committed entries
 * to apply.
 *
 * Membership changes take effect when their entry is appended to the log, committed or not (Raft thesis §4.1);
 * a truncated config entry is undone. One change at a time, and only after the leader has committed an entry of
 * its own term. Learners are promoted by an explicit `promote` change from the node layer (no auto-promotion).
 */
export class Raft {
  readonly id: NodeId;
  private readonly cfg: Required<RaftConfig>;
  private term: number;
  private vote: NodeId | null;
  private lead: NodeId | null = null;
  private role: Role = 'follower';
  private readonly log: RaftLog;
  private config: ClusterConfig;
  private configEpoch: number;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();
  private readonly progress = new Map<NodeId, Progress>();
  private transferee: NodeId | null = null;
  private transferElapsed = 0;
  private readonly readOnly = new ReadOnlyQueue();
  /** Reads that reached a new leader before it committed an entry of its term; answered once it has. */
  private deferredReads: { context: string; from: NodeId }[] = [];
  /** Appends owed to followers in replicate state; sent in one batch when the caller next asks for a Ready. */
  private broadcastPending = false;

  private msgs: Message[] = [];
  /** A leader's Append/Heartbeat/Snapshot messages: sendable before the Ready that carries them is durable. */
  private msgsNow: Message[] = [];
  /** ReadIndex requests arrived since the last Ready: one heartbeat round confirms them all. */
  private readHeartbeatPending = false;
  private readStates: ReadState[] = [];
  /** Latest snapshot this node has (taken locally or received); sent to followers behind the first index. */
  private snapshot: Snapshot | null;
  /** A received snapshot the node layer has not yet persisted and restored. */
  private pendingSnapshot: Snapshot | null = null;
  private prevHardState: HardState;
  private prevSoftState: SoftState | null = null;
  private inFlight: InFlightReady | null = null;

  constructor(cfg: RaftConfig, restored: RestoredState) {
    validateConfig(cfg);
    this.id = cfg.id;
    this.cfg = { ...cfg, transferTimeoutTicks: cfg.transferTimeoutTicks ?? cfg.electionTick };
    const snap = restored.snapshot;
    this.snapshot = snap;
    this.log = new RaftLog(
      snap?.meta.index ?? 0,
      snap?.meta.term ?? 0,
      snap ? snap.meta.config : restored.config,
      restored.entries,
    );
    this.term = restored.hardState.term;
    this.vote = restored.hardState.vote;
    // Commit is only a hint of what we knew: clamping it to the durable log is always safe.
    this.log.committed = Math.min(Math.max(restored.hardState.commit, this.log.snapshotIndex), this.log.lastIndex());
    this.config = this.log.currentConfig();
    this.configEpoch = this.log.configEpoch;
    this.prevHardState = this.hardState();
    this.becomeFollower(this.term, null);
  }

  // ---------------------------------------------------------------- public API

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'PreVote' || m.type === 'Vote') {
        const forced = m.type === 'Vote' && m.transfer;
        const heardFromLeaderRecently = this.lead !== null && this.electionElapsed < this.cfg.electionTick;
        // Leader stickiness (thesis §4.2.3 / §9.6): while a leader is heard from, disruptive candidates are ignored.
        const inLease = heardFromLeaderRecently && (m.type === 'PreVote' ? true : this.cfg.checkQuorum);
        if (!forced && inLease) {
          if (m.type === 'PreVote') this.send({ type: 'PreVoteResp', to: m.from, term: this.term, reject: true });
          return;
        }
      }
      if (m.type === 'PreVote' || (m.type === 'PreVoteResp' && !m.reject)) {
        // A pre-vote (or a grant of ours) never changes terms: the term is only proposed.
      } else if (m.type === 'Append' || m.type === 'Heartbeat' || m.type === 'Snapshot') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      // §5.1: a stale term is ignored. With check-quorum or pre-vote a stale leader would otherwise never learn
      // the new term (we no longer bump terms on it), so tell it.
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'Append' || m.type === 'Heartbeat')) {
        this.send({
          type: 'AppendResp',
          to: m.from,
          term: this.term,
          index: 0,
          reject: false,
          rejectHint: 0,
          conflictTerm: 0,
        });
      } else if (m.type === 'PreVote') {
        this.send({ type: 'PreVoteResp', to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'PreVote':
      case 'Vote': {
        // §5.2 one vote per term; a pre-vote for a later term may always be granted.
        const canVote =
          this.vote === m.from ||
          (this.vote === null && this.lead === null) ||
          (m.type === 'PreVote' && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.lastIndex, m.lastTerm)) {
          if (m.type === 'Vote') {
            this.electionElapsed = 0;
            this.vote = m.from;
            this.send({ type: 'VoteResp', to: m.from, term: m.term, reject: false });
          } else {
            this.send({ type: 'PreVoteResp', to: m.from, term: m.term, reject: false });
          }
        } else if (m.type === 'Vote') {
          this.send({ type: 'VoteResp', to: m.from, term: this.term, reject: true });
        } else {
          this.send({ type: 'PreVoteResp', to: m.from, term: this.term, reject: true });
        }
        return;
      }
      default:
        break;
    }

    if (this.role === 'leader') this.stepLeader(m);
    else if (this.role === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  propose(data: string): ProposeResult {
    const refusal = this.refuseProposal();
    if (refusal) return refusal;
    const entry = this.appendEntry('normal', data);
    return { ok: true, index: entry.index, term: entry.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    const refusal = this.refuseProposal();
    if (refusal) return refusal;
    if (this.log.term(this.log.committed) !== this.term || this.log.lastConfigIndex() > this.log.committed) {
      // One change at a time, and not before this leader's no-op commits (thesis §4.1 and its erratum).
      return { ok: false, reason: 'config-change-pending', leaderId: this.lead };
    }
    const next = nextConfig(this.config, cc);
    if (typeof next === 'string') {
      return { ok: false, reason: 'invalid-conf-change', leaderId: this.lead, detail: next };
    }
    const payload: ConfChangeEntryData = { ...cc, config: next };
    const entry = this.appendEntry('config', JSON.stringify(payload));
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** ReadIndex (thesis §6.4); the answer arrives in Ready.readStates. `context` must be unique per request. */
  readIndex(context: string): void {
    if (this.role === 'leader') {
      this.leaderReadIndex(context, this.id);
    } else if (this.lead !== null) {
      this.send({ type: 'ReadIndex', to: this.lead, term: this.term, context });
    }
    // With no known leader the request is dropped; the node layer times it out and retries.
  }

  /** Hand leadership to `to` (thesis §3.10): bring it up to date, then tell it to campaign at once. */
  transferLeadership(to: NodeId): void {
    if (this.role !== 'leader') {
      if (this.lead !== null) this.send({ type: 'TransferLeader', to: this.lead, term: this.term, target: to });
      return;
    }
    this.leaderTransfer(to);
  }

  /**
   * What compact(index) would record as the snapshot's meta: the node layer writes it into the snapshot file before
   * it knows the file's checksum, which is what it then passes to compact() as the data.
   */
  snapshotMetaAt(index: number): SnapshotMeta {
    if (index > this.log.applied) {
      throw new RangeError(`snapshotMetaAt: index ${index} is beyond the applied index ${this.log.applied}`);
    }
    const term = this.log.term(index);
    if (term === undefined) throw new RangeError(`snapshotMetaAt: index ${index} is not in the log`);
    return { index, term, config: this.log.configAt(index) };
  }

  /** The node layer took a state-machine snapshot at `index` (<= applied): keep it and drop the log up to it. */
  compact(index: number, data: string): void {
    if (index > this.log.applied) {
      throw new RangeError(`compact: index ${index} is beyond the applied index ${this.log.applied}`);
    }
    if (index <= this.log.snapshotIndex) return;
    const term = this.log.term(index);
    if (term === undefined) throw new RangeError(`compact: index ${index} is not in the log`);
    this.snapshot = { meta: { index, term, config: this.log.configAt(index) }, data };
    this.log.compact(index);
  }

  hasReady(): boolean {
    if (this.inFlight) return false;
    this.flushBroadcast();
    return (
      this.msgs.length > 0 ||
      this.msgsNow.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== null ||
      this.log.lastIndex() > this.log.stabled ||
      this.log.committed > this.appliedFloor() ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  /** The next batch of work. Call advance() once it is handled, before asking for another. */
  ready(): Ready {
    if (this.inFlight) throw new Error('ready() called again before advance() for the previous Ready');
    this.flushBroadcast();
    const hardState = this.hardState();
    const softState = this.softState();
    const entries = this.log.unstableEntries();
    const floor = this.appliedFloor();
    const committedEntries = this.log.committed > floor ? this.log.slice(floor + 1, this.log.committed + 1) : [];
    const lastEntry = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    const rd: Ready = {
      softState,
      hardState: sameHardState(hardState, this.prevHardState) ? null : hardState,
      entries,
      snapshot: this.pendingSnapshot,
      committedEntries,
      messages: this.msgs,
      messagesNow: this.msgsNow,
      readStates: this.readStates,
    };
    this.msgs = [];
    this.msgsNow = [];
    this.readStates = [];
    this.inFlight = {
      hardState,
      softState,
      lastEntry: lastEntry ? { index: lastEntry.index, term: lastEntry.term } : null,
      snapshotIndex: this.pendingSnapshot?.meta.index ?? null,
      appliedTo: lastCommitted?.index ?? null,
    };
    return rd;
  }

  /** The last Ready is persisted, its messages sent and its committed entries applied. */
  advance(): void {
    const done = this.inFlight;
    if (!done) throw new Error('advance() called without a Ready in progress');
    this.inFlight = null;
    this.prevHardState = done.hardState;
    this.prevSoftState = done.softState;
    if (done.snapshotIndex !== null) {
      if (this.pendingSnapshot?.meta.index === done.snapshotIndex) this.pendingSnapshot = null;
      this.log.stabled = Math.max(this.log.stabled, Math.min(done.snapshotIndex, this.log.lastIndex()));
      this.log.applied = Math.max(this.log.applied, done.snapshotIndex);
    }
    // Only entries that are still in the log with the same term became durable (a truncation may have raced).
    if (done.lastEntry && this.log.term(done.lastEntry.index) === done.lastEntry.term) {
      this.log.stabled = Math.max(this.log.stabled, done.lastEntry.index);
    }
    if (done.appliedTo !== null) this.log.applied = Math.max(this.log.applied, done.appliedTo);
    this.onDurable();
  }

  /**
   * A leader counts its own entries towards the commit only once they are durable (thesis §10.2.1: it sends them to
   * the followers while it writes them itself, see Ready.messagesNow). The new commit index, if any, travels on the
   * next Append or heartbeat; there is no commit-only broadcast.
   */
  private onDurable(): void {
    if (this.role !== 'leader') return;
    const self = this.progress.get(this.id);
    if (self?.maybeUpdate(this.log.stabled)) this.maybeCommit();
  }

  status(): RaftStatus {
    const s: RaftStatus = {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.lead,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      lastIndex: this.log.lastIndex(),
      snapshotIndex: this.log.snapshotIndex,
      config: cloneConfig(this.config),
    };
    if (this.role === 'leader') {
      const progress: Record<NodeId, ProgressStatus> = {};
      for (const [id, pr] of this.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          inflight: pr.inflights.count(),
          learner: pr.learner,
        };
      }
      s.progress = progress;
      if (this.transferee !== null) s.transferee = this.transferee;
    }
    return s;
  }

  /** Entries in [lo, hi) still held in memory (for tests and diagnostics). */
  entries(lo: number, hi: number): Entry[] {
    return this.log.slice(Math.max(lo, this.log.firstIndex()), hi);
  }

  /** The latest snapshot this node holds, if any. */
  latestSnapshot(): Snapshot | null {
    return this.snapshot;
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    // Pre-candidates change neither term nor vote (thesis §9.6), but no longer follow a leader.
    this.votes.clear();
    this.progress.clear();
    this.abortTransfer();
    this.role = 'pre-candidate';
    this.lead = null;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.role = 'candidate';
    this.vote = this.id;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    const last = this.log.lastIndex();
    for (const id of [...this.config.voters, ...this.config.learners]) {
      this.progress.set(id, this.newProgress(id, last + 1));
    }
    const self = this.progress.get(this.id);
    if (self) {
      // Only what is on our disk counts (onDurable); the rest is counted once advance() says it is.
      self.match = Math.min(last, this.log.stabled);
      self.becomeReplicate();
    }
    // A no-op of the new term lets the leader commit (and so learn the commit index) at once (§5.4.2, §8).
    this.appendEntry('noop', '');
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTick + Math.floor(this.cfg.random() * this.cfg.electionTick);
    this.votes.clear();
    this.progress.clear();
    this.abortTransfer();
    this.readOnly.clear();
    this.deferredReads = [];
    this.broadcastPending = false;
    this.readHeartbeatPending = false;
  }

  private newProgress(id: NodeId, next: number): Progress {
    const pr = new Progress(id, next, this.cfg.maxInflightMsgs, this.config.learners.includes(id));
    pr.recentActive = true;
    return pr;
  }

  private promotable(): boolean {
    return this.config.voters.includes(this.id);
  }

  // ---------------------------------------------------------------- ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'pre-vote' : 'election');
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
    }
    if (this.transferee !== null) {
      this.transferElapsed++;
      if (this.transferElapsed >= this.cfg.transferTimeoutTicks) this.abortTransfer();
    }
    for (const pr of this.progress.values()) {
      if (pr.state === 'snapshot') pr.snapshotTicks++;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.readOnly.lastContext());
    }
  }

  /** Check-quorum: did a quorum of voters (counting ourselves) talk to us during the last election timeout? */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.config.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.progress) {
      if (id !== this.id) pr.recentActive = false;
    }
    return active >= quorum(this.config.voters.length);
  }

  // ---------------------------------------------------------------- elections

  private campaign(kind: CampaignKind): void {
    if (!this.promotable()) return;
    let voteTerm: number;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      if (kind === 'pre-vote') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.config.voters) {
      if (id === this.id) continue;
      if (kind === 'pre-vote') this.send({ type: 'PreVote', to: id, term: voteTerm, lastIndex, lastTerm });
      else this.send({ type: 'Vote', to: id, term: voteTerm, lastIndex, lastTerm, transfer: kind === 'transfer' });
    }
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    let yes = 0;
    let no = 0;
    for (const id of this.config.voters) {
      const v = this.votes.get(id);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const q = quorum(this.config.voters.length);
    if (yes >= q) return 'won';
    if (no > this.config.voters.length - q) return 'lost';
    return 'pending';
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'Append':
        this.becomeFollower(m.term, m.from); // §5.2: a valid leader of our term exists
        this.handleAppend(m);
        return;
      case 'Heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'Snapshot':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'PreVoteResp':
      case 'VoteResp': {
        if ((m.type === 'PreVoteResp') !== (this.role === 'pre-candidate')) return;
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'pre-candidate') this.campaign('election');
          else this.becomeLeader();
        } else if (result === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- follower

  /** A message only the current leader sends: it is the leader, and the election timer starts over. */
  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.lead = from;
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'Append':
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case 'Heartbeat':
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case 'Snapshot':
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case 'TimeoutNow':
        // Leadership transfer: campaign at once, skipping pre-vote and the voters' leader lease.
        this.campaign('transfer');
        return;
      case 'ReadIndexResp':
        this.readStates.push({ context: m.context, index: m.index });
        return;
      case 'TransferLeader':
        if (this.lead !== null) this.send({ type: 'TransferLeader', to: this.lead, term: this.term, target: m.target });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: AppendMessage): void {
    if (m.prevIndex < this.log.committed) {
      this.acceptAppend(m.from, this.log.committed);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.onLogChanged();
      this.acceptAppend(m.from, lastNew);
      return;
    }
    // Conflict hint (§5.3 optimization): the term at prevIndex and where that term starts, or our last index.
    let rejectHint: number;
    let conflictTerm: number;
    if (m.prevIndex > this.log.lastIndex()) {
      rejectHint = this.log.lastIndex();
      conflictTerm = 0;
    } else {
      conflictTerm = this.log.term(m.prevIndex) ?? 0;
      rejectHint = this.log.firstIndexOfTermAt(m.prevIndex);
    }
    this.send({
      type: 'AppendResp',
      to: m.from,
      term: this.term,
      index: m.prevIndex,
      reject: true,
      rejectHint,
      conflictTerm,
    });
  }

  /** Tells the leader that our log matches its own up to `index`. */
  private acceptAppend(to: NodeId, index: number): void {
    this.send({ type: 'AppendResp', to, term: this.term, index, reject: false, rejectHint: 0, conflictTerm: 0 });
  }

  private handleHeartbeat(m: HeartbeatMessage): void {
    // The leader sends min(match, commit), so the commit index is always within our matching prefix.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'HeartbeatResp', to: m.from, term: this.term, context: m.context });
  }

  private handleSnapshot(m: SnapshotMessage): void {
    const meta = m.snapshot.meta;
    if (meta.index <= this.log.committed) {
      this.acceptAppend(m.from, this.log.committed);
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry, hence everything before it: just learn it is committed.
      this.log.commitTo(meta.index);
      this.acceptAppend(m.from, this.log.committed);
      return;
    }
    this.log.restore(meta.index, meta.term, meta.config);
    this.snapshot = m.snapshot;
    this.pendingSnapshot = m.snapshot;
    this.onLogChanged();
    this.send({
      type: 'AppendResp',
      to: m.from,
      term: this.term,
      index: this.log.lastIndex(),
      reject: false,
      rejectHint: 0,
      conflictTerm: 0,
    });
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'AppendResp':
        this.handleAppendResp(m);
        return;
      case 'HeartbeatResp':
        this.handleHeartbeatResp(m);
        return;
      case 'ReadIndex':
        this.leaderReadIndex(m.context, m.from);
        return;
      case 'TransferLeader':
        this.leaderTransfer(m.target);
        return;
      default:
        return;
    }
  }

  private refuseProposal(): ProposeResult | null {
    if (this.role !== 'leader') return { ok: false, reason: 'not-leader', leaderId: this.lead };
    if (this.transferee !== null) return { ok: false, reason: 'transferring', leaderId: this.lead };
    return null;
  }

  private appendEntry(type: Entry['type'], data: string): Entry {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.term, type, data };
    this.log.append([entry]);
    // Our own copy counts once it is durable (onDurable); a single voter therefore commits in the next Ready.
    if (type === 'config') this.onLogChanged();
    this.maybeCommit();
    this.broadcastPending = true;
    return entry;
  }

  /** The log changed in a way that may have changed the membership (append of a config entry, truncation, snapshot). */
  private onLogChanged(): void {
    if (this.log.configEpoch === this.configEpoch) return;
    this.configEpoch = this.log.configEpoch;
    const config = this.log.currentConfig();
    if (sameConfig(config, this.config)) return;
    this.config = config;
    if (this.role !== 'leader') return;
    const members = new Set([...config.voters, ...config.learners]);
    for (const id of members) {
      const pr = this.progress.get(id);
      if (pr) pr.learner = config.learners.includes(id);
      else this.progress.set(id, this.newProgress(id, this.log.lastIndex() + 1));
    }
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id)) this.progress.delete(id);
    }
    if (this.transferee !== null && !config.voters.includes(this.transferee)) this.abortTransfer();
    const self = this.progress.get(this.id);
    if (self) self.maybeUpdate(Math.min(this.log.lastIndex(), this.log.stabled));
  }

  /** Commit the highest index a quorum of voters holds, if it is of the current term (§5.4.2). */
  private maybeCommit(): boolean {
    const matches = this.config.voters.map((id) => this.progress.get(id)?.match ?? 0).sort((a, b) => b - a);
    const index = matches[quorum(matches.length) - 1] ?? 0;
    const firstCommitInTerm = this.log.term(this.log.committed) !== this.term;
    if (!this.log.maybeCommit(index, this.term)) return false;
    if (firstCommitInTerm) {
      const deferred = this.deferredReads;
      this.deferredReads = [];
      for (const r of deferred) this.leaderReadIndex(r.context, r.from);
    }
    // A leader removed from the configuration manages the cluster until the removal commits, then steps down (thesis §4.2.2).
    if (!this.config.voters.includes(this.id) && this.log.committed >= this.log.lastConfigIndex()) {
      this.becomeFollower(this.term, null);
    }
    return true;
  }

  private flushBroadcast(): void {
    if (this.role !== 'leader') return;
    if (this.readHeartbeatPending) {
      this.readHeartbeatPending = false;
      this.broadcastHeartbeat(this.readOnly.lastContext());
    }
    if (!this.broadcastPending) return;
    this.broadcastPending = false;
    for (const [id, pr] of this.progress) {
      // A probe is worth sending even without entries: it finds where the follower's log matches.
      if (id !== this.id) this.sendAppend(id, pr.state === 'probe');
    }
  }

  /**
   * Send what `to` is missing: entries in batches (pipelined while in replicate state, up to the inflight bound),
   * or the snapshot if they were compacted away. Returns whether something was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      return this.sendSnapshot(pr);
    }
    const entries = this.log.slice(pr.next, pr.next + this.cfg.maxEntriesPerAppend);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'Append', to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentCommit = this.log.committed;
    pr.sentEntries(entries.length, prevIndex + entries.length);
    return true;
  }

  /** Send to `to`, as many pipelined batches as it can take. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): void {
    if (!this.maybeSendAppend(to, sendIfEmpty)) return;
    while (this.progress.get(to)?.state === 'replicate' && this.maybeSendAppend(to, false)) {
      // keep filling the pipeline
    }
  }

  private sendSnapshot(pr: Progress): boolean {
    const snap = this.snapshot;
    if (!snap) throw new RaftInvariantError(`follower ${pr.id} needs index ${pr.next} but no snapshot exists`);
    this.send({ type: 'Snapshot', to: pr.id, term: this.term, snapshot: snap });
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }

  private handleAppendResp(m: AppendRespMessage): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    if (m.reject) {
      const probeIndex =
        m.conflictTerm === 0 ? m.rejectHint : this.leaderMatchGuess(m.index, m.rejectHint, m.conflictTerm);
      if (pr.maybeDecrTo(m.index, probeIndex)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (pr.state === 'probe' && wasPaused && m.index >= pr.match) {
        // An acknowledgement of what we already knew still answers the probe.
        pr.probeSent = false;
      }
      return;
    }
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && (pr.match >= pr.pendingSnapshot || pr.match + 1 >= this.log.firstIndex())) {
      // Caught up by the snapshot, or by entries we still hold: replicate from here.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    // A new commit index is not broadcast on its own: it rides on the next Append, or on the next heartbeat
    // (every heartbeatTick) when there is nothing to append.
    this.maybeCommit();
    if (this.role !== 'leader') return;
    // A follower that was paused (probing, or behind a snapshot) may have missed the commit index: tell it.
    this.sendAppend(m.from, wasPaused && pr.sentCommit < this.log.committed);
    if (m.from === this.transferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', to: m.from, term: this.term });
    }
  }

  /**
   * From a follower's conflict hint, the last index that may match: if we have entries of the follower's
   * conflicting term, the last of them; otherwise just before where that term starts on the follower.
   */
  private leaderMatchGuess(rejected: number, hintIndex: number, conflictTerm: number): number {
    const i = this.log.lastIndexWithTermAtMost(rejected, conflictTerm);
    if (this.log.term(i) === conflictTerm) return i;
    return Math.min(i, hintIndex - 1);
  }

  private handleHeartbeatResp(m: HeartbeatRespMessage): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.state === 'snapshot' && pr.snapshotTicks >= this.cfg.electionTick) {
      // The snapshot (or its answer) was probably lost: start over, which resends it.
      pr.becomeProbe();
      pr.next = pr.match + 1;
    }
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.sendAppend(m.from, true);
    if (m.context !== null && this.config.voters.includes(m.from)) {
      const acks = this.readOnly.ack(m.context, m.from);
      if (acks && countVoters(acks, this.config.voters) >= quorum(this.config.voters.length)) {
        for (const r of this.readOnly.releaseThrough(m.context)) this.answerRead(r.context, r.index, r.from);
      }
    }
  }

  private leaderReadIndex(context: string, from: NodeId): void {
    if (this.config.voters.length === 1 && this.config.voters[0] === this.id) {
      if (this.log.term(this.log.committed) === this.term) this.answerRead(context, this.log.committed, from);
      else this.deferredReads.push({ context, from });
      return;
    }
    if (this.log.term(this.log.committed) !== this.term) {
      // Thesis §6.4 step 1: until an entry of its term commits, a new leader does not know the commit index.
      this.deferredReads.push({ context, from });
      return;
    }
    if (this.readOnly.has(context)) return;
    this.readOnly.add(context, this.log.committed, from);
    if (this.config.voters.includes(this.id)) this.readOnly.ack(context, this.id);
    // Batched: every read arriving before the next Ready shares one heartbeat round (flushBroadcast), whose
    // quorum of acks releases them all (ReadOnlyQueue.releaseThrough).
    this.readHeartbeatPending = true;
  }

  private answerRead(context: string, index: number, from: NodeId): void {
    if (from === this.id) this.readStates.push({ context, index });
    else this.send({ type: 'ReadIndexResp', to: from, term: this.term, context, index });
  }

  private broadcastHeartbeat(context: string | null): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({
        type: 'Heartbeat',
        to: id,
        term: this.term,
        commit: Math.min(pr.match, this.log.committed),
        context,
      });
    }
  }

  private leaderTransfer(to: NodeId): void {
    if (to === this.id || !this.config.voters.includes(to)) return;
    if (this.transferee === to) return;
    this.abortTransfer();
    this.transferee = to;
    this.transferElapsed = 0;
    const pr = this.progress.get(to);
    if (pr && pr.match === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', to, term: this.term });
    } else {
      this.sendAppend(to, true);
    }
  }

  private abortTransfer(): void {
    this.transferee = null;
    this.transferElapsed = 0;
  }

  // ---------------------------------------------------------------- plumbing

  private send(draft: MessageDraft): void {
    const m = { ...draft, from: this.id } as Message;
    if (this.role === 'leader' && SEND_BEFORE_DURABLE.has(m.type)) this.msgsNow.push(m);
    else this.msgs.push(m);
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private softState(): SoftState {
    return { role: this.role, leaderId: this.lead, term: this.term };
  }

  /** Entries up to here are applied or covered by a snapshot waiting to be restored. */
  private appliedFloor(): number {
    return Math.max(this.log.applied, this.pendingSnapshot?.meta.index ?? 0);
  }
}

function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

function countVoters(ids: Set<NodeId>, voters: NodeId[]): number {
  return voters.filter((v) => ids.has(v)).length;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState | null): boolean {
  return b !== null && a.role === b.role && a.leaderId === b.leaderId && a.term === b.term;
}

function sameConfig(a: ClusterConfig, b: ClusterConfig): boolean {
  const eq = (x: NodeId[], y: NodeId[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return eq(a.voters, b.voters) && eq(a.learners, b.learners);
}

/** The configuration after `cc`, or why `cc` is invalid. */
function nextConfig(current: ClusterConfig, cc: ConfChange): ClusterConfig | string {
  const isVoter = current.voters.includes(cc.nodeId);
  const isLearner = current.learners.includes(cc.nodeId);
  switch (cc.type) {
    case 'addLearner':
      if (isVoter || isLearner) return `node ${cc.nodeId} is already a member`;
      return { voters: [...current.voters], learners: [...current.learners, cc.nodeId] };
    case 'promote':
      if (!isLearner) return `node ${cc.nodeId} is not a learner`;
      return { voters: [...current.voters, cc.nodeId], learners: current.learners.filter((id) => id !== cc.nodeId) };
    case 'remove':
      if (!isVoter && !isLearner) return `node ${cc.nodeId} is not a member`;
      if (isVoter && current.voters.length === 1) return `node ${cc.nodeId} is the last voter`;
      return {
        voters: current.voters.filter((id) => id !== cc.nodeId),
        learners: current.learners.filter((id) => id !== cc.nodeId),
      };
    default:
      return `unknown conf change type ${String((cc as { type: unknown }).type)}`;
  }
}

function validateConfig(cfg: RaftConfig): void {
  const positive = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`RaftConfig.${name} must be a positive integer, got ${v}`);
  };
  if (!cfg.id) throw new RangeError('RaftConfig.id must be a non-empty string');
  positive('electionTick', cfg.electionTick);
  positive('heartbeatTick', cfg.heartbeatTick);
  positive('maxInflightMsgs', cfg.maxInflightMsgs);
  positive('maxEntriesPerAppend', cfg.maxEntriesPerAppend);
  if (cfg.transferTimeoutTicks !== undefined) positive('transferTimeoutTicks', cfg.transferTimeoutTicks);
  if (cfg.heartbeatTick >= cfg.electionTick) {
    throw new RangeError(
      `RaftConfig.heartbeatTick (${cfg.heartbeatTick}) must be below electionTick (${cfg.electionTick})`,
    );
  }
}
