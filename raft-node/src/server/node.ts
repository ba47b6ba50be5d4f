import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Order, OrderBatchResult, OrderResult } from '../../../shared/domain/order';
import { deriveApiToken } from '../../../shared/raft-client/auth';
import type { MemberInfo, NodeStatus, Position, RiskLimits } from '../../../shared/raft-client/types';
import { Chaos } from '../chaos';
import type { NodeConfig } from '../config';
import { parseConfChangeEntry, Raft, type Entry, type Message, type Snapshot } from '../core';
import {
  encodeCommand,
  isCommandError,
  LedgerStateMachine,
  type LedgerApplyResult,
  type LedgerCommand,
} from '../ledger';
import type { NodeLogger } from '../logger';
import { RaftStorage } from '../storage';
import { createHttpApi, type JoinRequest, type LedgerNodeApi, type Outcome } from './http-api';
import { MemberBook, parseConfChangeContext, type MemberAddress } from './members';
import { Transport } from './transport';

/**
 * One Raft ledger node: drives the pure core with a timer and the network, persists what it asks for
 * (one fdatasync per Ready: group commit), sends its messages, applies committed entries to the ledger
 * and answers the HTTP requests waiting on them.
 */

interface SnapshotData {
  ledger: string;
  members: Record<string, MemberAddress>;
}

interface PendingProposal {
  term: number;
  resolve(outcome: Outcome<unknown>): void;
}

interface PendingRead {
  index: number | null;
  resolve(outcome: Outcome<number>): void;
}

/** Messages a leader sends that acknowledge nothing of its own disk state. */
const LEADER_TRAFFIC = new Set<Message['type']>(['Append', 'Heartbeat', 'Snapshot']);

function partition<T>(items: T[], pred: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (pred(item) ? yes : no).push(item);
  return [yes, no];
}

const PROPOSAL_TIMEOUT_MS = 10_000;
const READ_TIMEOUT_MS = 5_000;
/** How often (in ticks) the leader looks for learners to promote. */
const MEMBERSHIP_CHECK_TICKS = 4;

export class LedgerNode implements LedgerNodeApi {
  private readonly raft: Raft;
  private readonly storage: RaftStorage;
  private ledger: LedgerStateMachine;
  private readonly members = new MemberBook();
  private readonly transport: Transport<Message>;
  private readonly chaos: Chaos;
  private http: Server | null = null;
  private tickTimer: NodeJS.Timeout | null = null;

  private role: NodeStatus['role'] = 'follower';
  private leaderId: string | null = null;
  private term = 0;
  private appliedIndex: number;
  private snapshotIndex: number;
  private ticks = 0;

  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  /** Read contexts must not collide with a previous incarnation's requests still queued at the leader. */
  private readonly readPrefix = `${process.pid}.${randomBytes(4).toString('hex')}`;
  private processing = false;
  /**
   * The last log index known to be on this node's disk. The core counts a leader's own entries towards the
   * commit as soon as they are appended, but the fdatasync runs in the background while followers may already
   * acknowledge them; so an acknowledgement beyond this index is held back (heldAcks) until our own sync
   * covers it, and no commit is ever counted with our unsynced copy.
   */
  private durableIndex: number;
  private heldAcks: Message[] = [];
  private kicked = false;
  private stopping = false;
  private fatal: Error | null = null;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly logger: NodeLogger,
  ) {
    mkdirSync(cfg.dataDir, { recursive: true });
    this.storage = RaftStorage.open(cfg.dataDir);
    const restored = this.storage.restored;
    if (restored.recovery.droppedTailBytes > 0) {
      logger.warn('dropped a torn log tail on recovery', { ...restored.recovery });
    }
    const isNew = restored.snapshot === null && restored.entries.length === 0 && restored.hardState.term === 0;
    this.members.set(cfg.nodeId, { raftAddr: cfg.advertiseAddr, httpUrl: cfg.httpAdvertiseUrl });

    if (restored.snapshot) {
      const data = JSON.parse(restored.snapshot.data) as SnapshotData;
      this.ledger = LedgerStateMachine.restore(data.ledger);
      this.members.load(data.members);
      this.members.set(cfg.nodeId, { raftAddr: cfg.advertiseAddr, httpUrl: cfg.httpAdvertiseUrl });
    } else {
      this.ledger = new LedgerStateMachine();
    }
    // The transport does not exist yet: nothing to re-address.
    for (const entry of restored.entries) this.learnAddresses(entry, false);
    this.snapshotIndex = restored.snapshot?.meta.index ?? 0;
    this.appliedIndex = this.snapshotIndex;
    this.durableIndex = this.storage.lastIndex;

    // The core ignores this when there is a snapshot; config entries carry the membership after it.
    const config = cfg.bootstrap ? { voters: [cfg.nodeId], learners: [] } : { voters: [], learners: [] };
    this.raft = new Raft(
      {
        id: cfg.nodeId,
        electionTick: cfg.electionTicks,
        heartbeatTick: 1,
        maxInflightMsgs: cfg.maxInflightMsgs,
        maxEntriesPerAppend: cfg.maxEntriesPerAppend,
        checkQuorum: true,
        preVote: true,
        random: Math.random,
      },
      { hardState: restored.hardState, snapshot: restored.snapshot, entries: restored.entries, config },
    );
    this.chaos = new Chaos(cfg.chaos, cfg.nodeId);
    this.transport = new Transport<Message>({
      self: { nodeId: cfg.nodeId, raftAddr: cfg.advertiseAddr, httpUrl: cfg.httpAdvertiseUrl },
      bindHost: cfg.bindHost,
      bindPort: cfg.bindPort,
      secret: cfg.authSecret,
      chaos: this.chaos,
      logger,
      resolve: (id) => this.members.get(id)?.raftAddr,
      onPeerHello: (hello) => {
        if (this.members.set(hello.nodeId, { raftAddr: hello.raftAddr, httpUrl: hello.httpUrl })) {
          this.transport.readdress(hello.nodeId);
        }
      },
      onMessages: (messages) => {
        if (this.stopping && this.tickTimer === null) return;
        for (const m of messages) {
          if (this.mustHoldAck(m)) this.heldAcks.push(m);
          else this.raft.step(m);
        }
        this.kick();
      },
    });
    logger.info('storage recovered', {
      dataDir: cfg.dataDir,
      snapshotIndex: this.snapshotIndex,
      entries: restored.entries.length,
      term: restored.hardState.term,
      newMember: isNew,
    });
  }

  async start(): Promise<void> {
    await this.transport.listen();
    this.http = createHttpApi({ node: this, secret: this.cfg.authSecret, logger: this.logger });
    await new Promise<void>((resolve, reject) => {
      this.http!.once('error', reject);
      this.http!.listen(this.cfg.httpPort, this.cfg.httpBindHost, () => resolve());
    });
    this.tickTimer = setInterval(() => this.onTick(), this.cfg.heartbeatMs);
    this.logger.info('node started', {
      raftAddr: this.cfg.advertiseAddr,
      httpUrl: this.cfg.httpAdvertiseUrl,
      bootstrap: this.cfg.bootstrap,
      authOpen: !this.cfg.authSecret,
      chaos: this.chaos.enabled ? this.cfg.chaos : undefined,
    });
    this.kick();
    const st = this.raft.status();
    const isMember = st.config.voters.includes(this.cfg.nodeId) || st.config.learners.includes(this.cfg.nodeId);
    if (!isMember && this.cfg.joinAddr) void this.joinLoop(this.cfg.joinAddr);
    else if (!isMember)
      this.logger.warn('not a member yet and no RAFT_JOIN_ADDR: waiting to be added via POST /v1/members');
  }

  // ---- the drive loop ---------------------------------------------------------------------------

  private onTick(): void {
    this.raft.tick();
    this.ticks++;
    if (this.role === 'leader' && this.ticks % MEMBERSHIP_CHECK_TICKS === 0) this.promoteCaughtUpLearners();
    this.kick();
  }

  /** Schedules Ready processing; everything stepped or proposed meanwhile lands in the same batch. */
  private kick(): void {
    if (this.kicked || this.fatal) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      void this.processReady();
    });
  }

  private async processReady(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.raft.hasReady()) {
        const rd = this.raft.ready();
        this.onSoftState(rd.softState);
        for (const rs of rd.readStates) {
          const read = this.reads.get(rs.context);
          if (read) read.index = rs.index;
        }
        if (rd.snapshot) this.installSnapshot(rd.snapshot);
        // Committed entries this node made durable in an earlier Ready are applied, and their clients
        // answered, before this Ready's fdatasync rather than after it.
        const firstNew = rd.entries[0]?.index ?? Infinity;
        const [applyNow, applyAfterSync] = rd.snapshot
          ? [[], rd.committedEntries]
          : partition(rd.committedEntries, (e) => e.index < firstNew);
        // Thesis §10.2.1: a leader may send its appends while it writes them to its own disk. Followers'
        // acknowledgements are held back until our own write is durable (mustHoldAck), so none is counted
        // with our unsynced copy. (With a single voter the core commits on our copy alone, so not then.)
        const early = rd.softState.role === 'leader' && this.raft.status().config.voters.length > 1;
        const [sendNow, sendAfterSync] = early
          ? partition(rd.messages, (m) => LEADER_TRAFFIC.has(m.type))
          : [[], rd.messages];
        if (sendNow.length > 0) this.transport.send(sendNow);
        if (applyNow.length > 0) {
          // The answers go out from promise callbacks while the sync below runs in the background.
          for (const entry of applyNow) this.applyEntry(entry);
          this.answerReads();
        }
        if (rd.entries.length > 0) {
          // These entries may replace durable ones at the same indexes: not durable until the sync below.
          this.durableIndex = Math.min(this.durableIndex, rd.entries[0]!.index - 1);
          this.storage.append(rd.entries);
          for (const e of rd.entries) this.learnAddresses(e);
        }
        if (rd.hardState) this.storage.setHardState(rd.hardState);
        // Group commit: one fdatasync covers every entry and vote of this Ready, before anything is acknowledged.
        // A change of the commit index alone need not be synced (it is a hint Raft can recompute); it stays
        // buffered until the next sync, as in etcd's MustSync.
        const termOrVoteChanged = this.termOrVoteChanged(rd.hardState);
        // The fdatasync runs on the thread pool: meanwhile the event loop parses requests, proposes (they
        // join the next Ready) and steps messages; the next Ready waits, so one sync is in flight at a time.
        if (rd.entries.length > 0 || termOrVoteChanged) await this.storage.syncInBackground();
        this.durableIndex = this.storage.lastIndex;
        this.releaseHeldAcks();
        this.transport.send(sendAfterSync);
        for (const entry of applyAfterSync) this.applyEntry(entry);
        this.raft.advance();
        this.answerReads();
        this.maybeCompact();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.processing = false;
    }
  }

  /** An acknowledgement a leader must not count yet: it covers entries not yet on our own disk. */
  private mustHoldAck(m: Message): boolean {
    return m.type === 'AppendResp' && !m.reject && m.index > this.durableIndex;
  }

  /** Steps the held acknowledgements our disk now covers; all of them once we are no longer leader (the core
   * ignores or answers them as a non-leader, counting nothing). */
  private releaseHeldAcks(): void {
    if (this.heldAcks.length === 0) return;
    const held = this.heldAcks;
    this.heldAcks = [];
    for (const m of held) {
      if (this.role === 'leader' && this.mustHoldAck(m)) this.heldAcks.push(m);
      else this.raft.step(m);
    }
  }

  private lastSynced = { term: -1, vote: null as string | null };

  private termOrVoteChanged(hs: { term: number; vote: string | null } | null): boolean {
    if (!hs || (hs.term === this.lastSynced.term && hs.vote === this.lastSynced.vote)) return false;
    this.lastSynced = { term: hs.term, vote: hs.vote };
    return true;
  }

  private onSoftState(soft: { role: string; leaderId: string | null; term: number }): void {
    const wasLeader = this.role === 'leader';
    const role = soft.role as NodeStatus['role'];
    if (role !== this.role || soft.leaderId !== this.leaderId || soft.term !== this.term) {
      this.logger.info('raft state changed', { role, leaderId: soft.leaderId, term: soft.term });
    }
    this.role = role;
    this.leaderId = soft.leaderId;
    this.term = soft.term;
    if (wasLeader && role !== 'leader') {
      this.releaseHeldAcks();
      // Our proposals may or may not commit under the next leader; say so and let the client read back.
      for (const [index, p] of this.proposals) {
        p.resolve({ kind: 'unavailable', reason: 'leadership lost; the outcome is unknown, read back or retry' });
        this.proposals.delete(index);
      }
    }
    if (!wasLeader && role === 'leader' && this.chaos.shouldExitOnLeadership()) {
      this.logger.warn('chaos: exiting on becoming leader (CHAOS_EXIT_ON_LEADER)', { term: soft.term });
      process.exit(0);
    }
  }

  private installSnapshot(snapshot: Snapshot): void {
    this.storage.saveSnapshot(snapshot);
    const data = JSON.parse(snapshot.data) as SnapshotData;
    this.ledger = LedgerStateMachine.restore(data.ledger);
    this.members.load(data.members);
    this.snapshotIndex = snapshot.meta.index;
    this.appliedIndex = snapshot.meta.index;
    this.logger.info('installed snapshot', { index: snapshot.meta.index, term: snapshot.meta.term });
  }

  private applyEntry(entry: Entry): void {
    if (entry.index <= this.appliedIndex) return;
    let result: unknown = null;
    if (entry.type === 'normal') {
      result = this.ledger.apply(entry.data, entry.index);
    } else if (entry.type === 'config') {
      const cc = parseConfChangeEntry(entry);
      this.learnAddresses(entry);
      if (cc.type === 'remove') {
        if (cc.nodeId === this.cfg.nodeId) this.logger.warn('this node was removed from the cluster');
        else this.transport.forget(cc.nodeId);
      }
      this.logger.info('membership change applied', { change: cc.type, memberId: cc.nodeId, index: entry.index });
    }
    this.appliedIndex = entry.index;
    const pending = this.proposals.get(entry.index);
    if (pending) {
      this.proposals.delete(entry.index);
      pending.resolve(
        pending.term === entry.term
          ? { kind: 'ok', value: result }
          : { kind: 'unavailable', reason: 'the proposal was superseded by a new leader; retry' },
      );
    }
  }

  private learnAddresses(entry: Entry, readdress = true): void {
    if (entry.type !== 'config') return;
    const cc = parseConfChangeEntry(entry);
    const addr = parseConfChangeContext(cc.context);
    if (addr && cc.nodeId !== this.cfg.nodeId && this.members.set(cc.nodeId, addr) && readdress) {
      this.transport.readdress(cc.nodeId);
    }
  }

  private answerReads(): void {
    for (const [ctx, read] of this.reads) {
      if (read.index !== null && read.index <= this.appliedIndex) {
        this.reads.delete(ctx);
        read.resolve({ kind: 'ok', value: read.index });
      }
    }
  }

  private maybeCompact(): void {
    // The first snapshot is taken at once, so that it carries the initial configuration to joining nodes.
    const due =
      this.appliedIndex - this.snapshotIndex >= this.cfg.snapshotThreshold ||
      (this.snapshotIndex === 0 && this.appliedIndex > 0);
    if (!due) return;
    const data: SnapshotData = { ledger: this.ledger.snapshot(), members: this.members.toJSON() };
    this.raft.compact(this.appliedIndex, JSON.stringify(data));
    const snapshot = this.raft.latestSnapshot();
    if (!snapshot) return;
    this.storage.saveSnapshot(snapshot);
    this.snapshotIndex = snapshot.meta.index;
    this.logger.info('compacted the log', { snapshotIndex: this.snapshotIndex });
  }

  private promoteCaughtUpLearners(): void {
    const st = this.raft.status();
    for (const learner of st.config.learners) {
      const match = st.progress?.[learner]?.match ?? 0;
      if (match >= st.commitIndex) {
        const r = this.raft.proposeConfChange({ type: 'promote', nodeId: learner });
        if (r.ok) this.logger.info('promoting caught-up learner', { memberId: learner, match });
        return;
      }
    }
  }

  private fail(err: Error): void {
    this.fatal = err;
    this.logger.error('fatal error in the raft loop; stopping the node so it restarts and recovers', { error: err });
    process.exitCode = 1;
    void this.shutdown('fatal').finally(() => process.exit(1));
  }

  // ---- proposals and reads ----------------------------------------------------------------------

  private leaderUrl(leaderId: string | null = this.leaderId): string | null {
    if (!leaderId) return null;
    return this.members.get(leaderId)?.httpUrl ?? null;
  }

  private async propose<T>(command: LedgerCommand): Promise<Outcome<T>> {
    if (this.stopping) return { kind: 'unavailable', reason: 'node is shutting down' };
    if (this.role !== 'leader') return { kind: 'not-leader', leaderUrl: this.leaderUrl() };
    const o = await this.awaitProposal<LedgerApplyResult>(this.raft.propose(encodeCommand(command)));
    if (o.kind === 'ok' && isCommandError(o.value)) return { kind: 'conflict', reason: o.value.error };
    return o as Outcome<T>;
  }

  private awaitProposal<T>(
    r: { ok: true; index: number; term: number } | { ok: false; reason: string; leaderId: string | null },
  ): Promise<Outcome<T>> {
    if (!r.ok) {
      if (r.leaderId && r.leaderId !== this.cfg.nodeId) {
        return Promise.resolve({ kind: 'not-leader', leaderUrl: this.leaderUrl(r.leaderId) });
      }
      return Promise.resolve({ kind: 'unavailable', reason: r.reason });
    }
    this.kick();
    return new Promise<Outcome<T>>((resolve) => {
      const timer = setTimeout(() => {
        if (this.proposals.get(r.index)?.resolve === done) this.proposals.delete(r.index);
        resolve({ kind: 'unavailable', reason: 'timed out waiting for the commit; the outcome is unknown' });
      }, PROPOSAL_TIMEOUT_MS);
      const done = (o: Outcome<unknown>) => {
        clearTimeout(timer);
        resolve(o as Outcome<T>);
      };
      this.proposals.set(r.index, { term: r.term, resolve: done });
    });
  }

  /** Linearizable read: waits for a ReadIndex confirmed by the leader, then for the apply to reach it. */
  private async linearizable<T>(read: () => T): Promise<Outcome<T>> {
    if (this.stopping) return { kind: 'unavailable', reason: 'node is shutting down' };
    if (!this.leaderId) return { kind: 'not-leader', leaderUrl: null };
    const context = `${this.readPrefix}:${++this.readSeq}`;
    const outcome = await new Promise<Outcome<number>>((resolve) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        resolve({ kind: 'unavailable', reason: 'timed out confirming leadership for a linearizable read' });
      }, READ_TIMEOUT_MS);
      this.reads.set(context, {
        index: null,
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      });
      this.raft.readIndex(context);
      this.kick();
    });
    if (outcome.kind !== 'ok') return outcome;
    return { kind: 'ok', value: read() };
  }

  applyOrder(order: Order): Promise<Outcome<OrderResult>> {
    return this.propose<OrderResult>({ type: 'order', order });
  }

  applyOrders(orders: Order[]): Promise<Outcome<OrderBatchResult>> {
    return this.propose<OrderBatchResult>({ type: 'orderBatch', orders });
  }

  setLimits(limits: Partial<RiskLimits>): Promise<Outcome<RiskLimits>> {
    return this.propose<RiskLimits>({ type: 'setLimits', limits });
  }

  async setHalted(halted: boolean): Promise<Outcome<{ halted: boolean }>> {
    const o = await this.propose<{ halted: boolean; reason: string | null }>({ type: halted ? 'halt' : 'resume' });
    return o.kind === 'ok' ? { kind: 'ok', value: { halted: o.value.halted } } : o;
  }

  async getOrder(orderId: string): Promise<Outcome<OrderResult>> {
    const o = await this.linearizable(() => this.ledger.getOrder(orderId));
    if (o.kind !== 'ok') return o;
    return o.value ? { kind: 'ok', value: o.value } : { kind: 'not-found' };
  }

  positions(account?: string): Promise<Outcome<Position[]>> {
    return this.linearizable(() => this.ledger.positions(account));
  }

  limits(): Promise<Outcome<RiskLimits & { halted: boolean }>> {
    return this.linearizable(() => ({ ...this.ledger.limits, halted: this.ledger.halted }));
  }

  async addMember(req: JoinRequest): Promise<Outcome<{ members: MemberInfo[] }>> {
    if (this.role !== 'leader') return { kind: 'not-leader', leaderUrl: this.leaderUrl() };
    if (this.members.set(req.nodeId, { raftAddr: req.raftAddr, httpUrl: req.httpUrl })) {
      this.transport.readdress(req.nodeId);
    }
    const cfg = this.raft.status().config;
    if (cfg.voters.includes(req.nodeId) || cfg.learners.includes(req.nodeId)) {
      return { kind: 'ok', value: { members: this.memberList() } };
    }
    const r = this.raft.proposeConfChange({
      type: 'addLearner',
      nodeId: req.nodeId,
      context: JSON.stringify({ raftAddr: req.raftAddr, httpUrl: req.httpUrl }),
    });
    const o = await this.awaitProposal<unknown>(r);
    if (o.kind !== 'ok') return o;
    this.logger.info('added a learner', { memberId: req.nodeId, raftAddr: req.raftAddr });
    return { kind: 'ok', value: { members: this.memberList() } };
  }

  async removeMember(nodeId: string): Promise<Outcome<{ members: MemberInfo[] }>> {
    if (this.role !== 'leader') return { kind: 'not-leader', leaderUrl: this.leaderUrl() };
    const cfg = this.raft.status().config;
    if (!cfg.voters.includes(nodeId) && !cfg.learners.includes(nodeId)) return { kind: 'not-found' };
    const o = await this.awaitProposal<unknown>(this.raft.proposeConfChange({ type: 'remove', nodeId }));
    if (o.kind !== 'ok') return o;
    return { kind: 'ok', value: { members: this.memberList() } };
  }

  private memberList(): MemberInfo[] {
    const { voters, learners } = this.raft.status().config;
    const info = (id: string, voter: boolean): MemberInfo => ({
      id,
      raftAddr: this.members.get(id)?.raftAddr ?? '',
      httpUrl: this.members.get(id)?.httpUrl ?? '',
      voter,
    });
    return [...voters.map((id) => info(id, true)), ...learners.map((id) => info(id, false))].sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
  }

  status(): NodeStatus & { authOpen: boolean } {
    const st = this.raft.status();
    return {
      nodeId: this.cfg.nodeId,
      role: this.role === 'follower' && st.config.learners.includes(this.cfg.nodeId) ? 'learner' : this.role,
      term: this.term,
      leaderId: this.leaderId,
      leaderUrl: this.leaderUrl(),
      commitIndex: st.commitIndex,
      appliedIndex: this.appliedIndex,
      lastLogIndex: st.lastIndex,
      snapshotIndex: this.snapshotIndex,
      members: this.memberList(),
      authOpen: !this.cfg.authSecret,
    };
  }

  isReady(): boolean {
    return !this.stopping && this.leaderId !== null && this.appliedIndex >= this.raft.status().commitIndex;
  }

  // ---- joining and shutdown ---------------------------------------------------------------------

  /** Asks the cluster (through any member, following redirects to the leader) to add this node. */
  private async joinLoop(joinAddr: string): Promise<void> {
    const body = JSON.stringify({
      nodeId: this.cfg.nodeId,
      raftAddr: this.cfg.advertiseAddr,
      httpUrl: this.cfg.httpAdvertiseUrl,
    });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.cfg.authSecret) headers.authorization = `Bearer ${deriveApiToken(this.cfg.authSecret)}`;
    let target = joinAddr;
    let waitMs = 100;
    while (!this.stopping) {
      try {
        // Redirects are followed by hand: fetch drops the Authorization header on cross-origin redirects.
        const res = await fetch(`${target}/v1/members`, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(5_000),
        });
        if (res.status === 307) {
          const leader = ((await res.json()) as { leader?: string }).leader;
          target = leader ?? new URL(res.headers.get('location') ?? joinAddr).origin;
          continue;
        }
        if (res.status === 200) {
          const { members } = (await res.json()) as { members: MemberInfo[] };
          for (const m of members) {
            if (m.id !== this.cfg.nodeId && m.raftAddr)
              this.members.set(m.id, { raftAddr: m.raftAddr, httpUrl: m.httpUrl });
          }
          this.logger.info('joined the cluster as a learner', { via: target });
          return;
        }
        const text = await res.text();
        this.logger.warn('join refused; retrying', { via: target, status: res.status, body: text.slice(0, 200) });
      } catch (err) {
        this.logger.warn('join attempt failed; retrying', { via: target, error: (err as Error).message });
      }
      target = joinAddr;
      await new Promise((r) => setTimeout(r, waitMs));
      waitMs = Math.min(waitMs * 2, 2_000);
    }
  }

  /** SIGTERM: a leader hands over to an up-to-date follower first; then stop, flush, sync and close. */
  async shutdown(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info('shutting down', { reason });
    if (this.role === 'leader' && !this.fatal) await this.handOverLeadership();
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    const http = this.http;
    if (http) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeIdleConnections();
        setTimeout(() => {
          http.closeAllConnections();
          resolve();
        }, 1_000).unref();
      });
    }
    for (const p of this.proposals.values()) p.resolve({ kind: 'unavailable', reason: 'node is shutting down' });
    this.proposals.clear();
    await this.transport.close();
    // Let a Ready in progress finish its write before the storage closes.
    for (let waited = 0; this.processing && waited < 2_000; waited += 5) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (!this.fatal) this.storage.close();
    this.logger.info('stopped cleanly');
  }

  private async handOverLeadership(): Promise<void> {
    const st = this.raft.status();
    const candidates = st.config.voters
      .filter((id) => id !== this.cfg.nodeId)
      .map((id) => ({ id, match: st.progress?.[id]?.match ?? 0 }))
      .sort((a, b) => b.match - a.match);
    const target = candidates[0];
    if (!target) return;
    this.logger.info('transferring leadership before exit', { to: target.id });
    this.raft.transferLeadership(target.id);
    this.kick();
    const deadline = Date.now() + this.cfg.shutdownTransferMs;
    while (this.role === 'leader' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.logger.info(this.role === 'leader' ? 'leadership transfer timed out' : 'leadership handed over', {
      to: target.id,
      leaderId: this.leaderId,
    });
  }
}
