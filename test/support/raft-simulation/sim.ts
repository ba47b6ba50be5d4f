/**
 * Deterministic simulation of whole Raft clusters: the real core and the real ledger state machine on a seeded
 * simulated network and clock. One PRNG drives everything (faults, delays, clients, election timeouts), so a
 * seed replays exactly. Invariants are checked after every step; the client history is checked for
 * linearizability at the end of each run.
 */
import { ledgerSnapshotText, restoreLedgerText } from '../ledger-snapshot';
import {
  parseConfChangeEntry,
  Raft,
  type ClusterConfig,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
} from '../../../raft-node/src/core';
import { encodeCommand, isCommandError, LedgerStateMachine, type LedgerCommand } from '../../../raft-node/src/ledger';
import {
  checkLinearizability,
  checkSeqs,
  ledgerModel,
  type LedgerInput,
  type LedgerOutput,
  type Operation,
} from '../linearizability';
import { seededRandom } from '../../../raft-node/src/chaos';
import type { Order, OrderResult } from '../../../shared/domain/order';

export class SimulationFailure extends Error {
  override name = 'SimulationFailure';
}

export interface SimOptions {
  /** Simulated time units of faults and client traffic (a tick is TICK units). */
  duration?: number;
  /** Most units of fault-free time at the end for the cluster to converge (the run stops once it has). */
  settle?: number;
  /** Receives a line per delivered message and fault (for replaying a failing seed). */
  trace?: (line: string) => void;
}

export interface SimStats {
  seed: number;
  clusterSize: number;
  elections: number;
  maxTerm: number;
  committed: number;
  crashes: number;
  partitions: number;
  snapshotsSent: number;
  /** Snapshot messages sent at the sender's applied index, later than the core's compaction point (asSent). */
  laterSnapshotsSent: number;
  membershipChanges: number;
  transfers: number;
  operations: number;
  /** Operations that were batches (each is one operation over several order ids). */
  batches: number;
  /** Cancel operations, and orders the final ledger holds as CANCELED (the cancel won the race). */
  cancels: number;
  canceledOrders: number;
  acknowledged: number;
  timedOut: number;
}

const TICK = 10;
const ELECTION_TICK = 10;
const OP_TIMEOUT = 400;

interface Durable {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

interface PendingProposal {
  op: Operation<LedgerInput, LedgerOutput>;
  term: number;
  client: Client;
}

interface PendingRead {
  op: Operation<LedgerInput, LedgerOutput>;
  client: Client;
  index: number | null;
}

interface SimNode {
  id: NodeId;
  baseConfig: ClusterConfig;
  durable: Durable;
  raft: Raft | null;
  ledger: LedgerStateMachine;
  applied: number;
  /** The Ready being persisted: durable (and its messages sent, entries applied) only at syncAt. */
  inFlight: { rd: Ready; syncAt: number } | null;
  tickPhase: number;
  crashedUntil: number;
  proposals: Map<number, PendingProposal>;
  reads: Map<string, PendingRead>;
  recordedCommit: number;
  lastLeaderTerm: number;
  /** Left the configuration: no longer run. */
  retired: boolean;
}

/** What a client proposes: one order, or a batch of them in one entry. */
type WriteInput = Exclude<LedgerInput, { kind: 'getOrder' }>;

interface Client {
  id: number;
  op: Operation<LedgerInput, LedgerOutput> | null;
  /** A write whose outcome is unknown (or that never got into the log): sent again as it was (exactly-once). */
  retry: WriteInput | null;
  leaderGuess: NodeId | null;
  nextAt: number;
}

export function replayCommand(seed: number): string {
  return `RAFT_SIM_SEED=${seed} npx jest test/integration/raft/simulation.test.ts`;
}

/** The counters of a run (or of many runs added up), all at zero. */
export function zeroCounts(): Omit<SimStats, 'seed' | 'clusterSize'> {
  return {
    elections: 0,
    maxTerm: 0,
    committed: 0,
    crashes: 0,
    partitions: 0,
    snapshotsSent: 0,
    laterSnapshotsSent: 0,
    membershipChanges: 0,
    transfers: 0,
    operations: 0,
    batches: 0,
    cancels: 0,
    canceledOrders: 0,
    acknowledged: 0,
    timedOut: 0,
  };
}

export function runSimulation(seed: number, options: SimOptions = {}): SimStats {
  return new Simulation(seed, options).run();
}

class Simulation {
  private readonly rand: () => number;
  private readonly nodes = new Map<NodeId, SimNode>();
  private now = 0;
  /** Messages in flight, bucketed by delivery time. */
  private readonly queue = new Map<number, Message[]>();
  private readonly blocked = new Set<string>();
  private partitionUntil = 0;
  private readonly clusterSize: number;
  private readonly lossRate: number;
  private readonly dupRate: number;
  private readonly maxDelay: number;
  private readonly compactEvery: number;
  private readonly crashRate: number;
  private readonly leaderIsolation: boolean;
  private readonly syncDelay: number;
  /** Chance that a new leader is crashed shortly after its election (Figure 8 style histories). */
  private readonly newLeaderCrashRate: number;
  private readonly scheduledCrashes = new Map<NodeId, number>();
  /**
   * Figure 8 of the Raft paper: a new leader gets its older-term entries to the others but none of its own-term
   * entries (the no-op), then crashes. Committing the older entries by counting would then lose them.
   */
  private readonly figure8Rate: number;
  private readonly ownTermEntriesHeld = new Map<NodeId, { term: number; until: number }>();
  private nextNodeNumber: number;
  private readonly clients: Client[] = [];
  private readonly history: Operation<LedgerInput, LedgerOutput>[] = [];
  private opSeq = 0;
  private orderSeq = 0;
  private readonly orderIds: string[] = [];
  private readonly stats: SimStats;

  // invariant bookkeeping
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** (index:term) → [type, data, prevTerm] of every entry any log ever held. */
  private readonly entryRegistry = new Map<string, string>();
  /** index → the committed entry, as "term|type|data". */
  private readonly committed = new Map<number, string>();
  private maxCommitted = 0;
  private readonly duration: number;
  private readonly settle: number;
  private readonly trace: ((line: string) => void) | null;
  private faultsOn = true;

  constructor(
    private readonly seed: number,
    options: SimOptions,
  ) {
    this.rand = seededRandom(seed * 2654435761);
    this.clusterSize = seed % 2 === 0 ? 3 : 5;
    this.lossRate = this.pick([0, 0.01, 0.05, 0.1, 0.2]);
    this.dupRate = this.pick([0, 0.02, 0.05]);
    this.maxDelay = this.pick([3, 10, 30]);
    this.compactEvery = this.pick([10, 30, 100]);
    this.crashRate = this.pick([0, 0.001, 0.004]);
    this.leaderIsolation = this.rand() < 0.5;
    this.syncDelay = this.pick([1, 3, 8]);
    this.newLeaderCrashRate = this.pick([0, 0, 0.3]);
    this.figure8Rate = this.pick([0, 0, 0.5]);
    this.duration = options.duration ?? 2000;
    this.settle = options.settle ?? 6000;
    this.trace = options.trace ?? null;
    this.stats = {
      seed,
      clusterSize: this.clusterSize,
      ...zeroCounts(),
    };
    const voters = Array.from({ length: this.clusterSize }, (_, i) => `n${i + 1}`);
    this.nextNodeNumber = this.clusterSize + 1;
    for (const id of voters) this.addNode(id, { voters, learners: [] });
    for (let i = 0; i < 3; i++) this.clients.push({ id: i, op: null, retry: null, leaderGuess: null, nextAt: 0 });
  }

  run(): SimStats {
    try {
      for (; this.now < this.duration; this.now++) {
        this.nemesis();
        this.step(true);
      }
      this.healAll();
      this.faultsOn = false;
      this.ownTermEntriesHeld.clear();
      const end = this.duration + this.settle;
      for (; this.now < end; this.now++) {
        this.step(false);
        if (this.now % 50 === 0 && this.converged()) break;
      }
      this.finalChecks();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const failure = new SimulationFailure(
        `seed ${this.seed} (t=${this.now}, ${this.clusterSize} nodes): ${msg}\nreplay: ${replayCommand(this.seed)}`,
      );
      if (err instanceof Error && err.stack) failure.stack = `${failure.message}\n${err.stack}`;
      throw failure;
    }
    this.stats.committed = this.maxCommitted;
    return this.stats;
  }

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.rand() * xs.length)] as T;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  // ------------------------------------------------------------------ nodes

  private addNode(id: NodeId, baseConfig: ClusterConfig): SimNode {
    const node: SimNode = {
      id,
      baseConfig,
      durable: { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] },
      raft: null,
      ledger: new LedgerStateMachine(),
      applied: 0,
      inFlight: null,
      tickPhase: this.int(0, TICK - 1),
      crashedUntil: 0,
      proposals: new Map(),
      reads: new Map(),
      recordedCommit: 0,
      lastLeaderTerm: 0,
      retired: false,
    };
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  /** (Re)start a node from its durable state, as after a crash. */
  private start(node: SimNode): void {
    const d = node.durable;
    const raftSeed = Math.floor(this.rand() * 2 ** 31);
    node.raft = new Raft(
      {
        id: node.id,
        electionTick: ELECTION_TICK,
        heartbeatTick: 2,
        maxInflightMsgs: this.pick([1, 4, 64]),
        maxEntriesPerAppend: this.pick([1, 8, 64]),
        checkQuorum: true,
        preVote: true,
        random: seededRandom(raftSeed),
      },
      { hardState: d.hardState, snapshot: d.snapshot, entries: d.entries.slice(), config: node.baseConfig },
    );
    node.ledger = d.snapshot ? restoreLedgerText(d.snapshot.data) : new LedgerStateMachine();
    node.applied = d.snapshot?.meta.index ?? 0;
    node.inFlight = null;
    node.proposals.clear();
    node.reads.clear();
    node.recordedCommit = Math.max(node.recordedCommit, node.applied);
  }

  private crash(node: SimNode, downFor: number): void {
    // Whatever the in-flight Ready asked to persist was never synced: it is gone, and so are its messages.
    node.raft = null;
    node.inFlight = null;
    node.proposals.clear();
    node.reads.clear();
    node.crashedUntil = this.now + downFor;
    this.trace?.(`${this.now} crash ${node.id} until ${node.crashedUntil}`);
    this.stats.crashes++;
  }

  private live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft !== null && !n.retired);
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.live()) {
      const s = n.raft!.status();
      if (s.role === 'leader' && (!best || s.term > best.raft!.status().term)) best = n;
    }
    return best;
  }

  // ------------------------------------------------------------------ one time unit

  private step(faults: boolean): void {
    this.deliverDue();
    for (const node of this.nodes.values()) {
      if (node.retired) continue;
      if (!node.raft) {
        if (this.now >= node.crashedUntil) this.start(node);
        continue;
      }
      if ((this.now + node.tickPhase) % TICK === 0) node.raft.tick();
    }
    this.runClients(faults);
    for (const node of this.nodes.values()) {
      if (node.raft && !node.retired) this.processReady(node);
    }
    this.checkInvariants();
  }

  private processReady(node: SimNode): void {
    const raft = node.raft!;
    if (node.inFlight) {
      if (this.now < node.inFlight.syncAt) return;
      const rd = node.inFlight.rd;
      node.inFlight = null;
      this.persist(node, rd);
      for (const m of rd.messages) this.send(this.asSent(node, m));
      if (rd.snapshot) this.restoreSnapshot(node, rd.snapshot);
      for (const e of rd.committedEntries) this.apply(node, e);
      for (const r of rd.readStates) {
        const pending = node.reads.get(r.context);
        if (pending) pending.index = r.index;
      }
      raft.advance();
      this.serveReads(node);
      this.maybeCompact(node);
    }
    if (raft.hasReady()) {
      const rd = raft.ready();
      this.registerEntries(node, rd.entries);
      // A leader's replication traffic leaves while its own write is in progress (thesis §10.2.1), so a crash
      // before syncAt loses the leader's copy but not what the followers were sent.
      for (const m of rd.messagesNow) this.send(this.asSent(node, m));
      // Persisting takes a while (an fsync); a crash before then loses all of it.
      node.inFlight = { rd, syncAt: this.now + this.int(0, this.syncDelay) };
    }
  }

  /**
   * What the node layer sends for a core message: a Snapshot goes out as the sender's state at its applied index,
   * with that index's meta, which is later than the compaction point the core names whenever entries were applied
   * since (server/node.ts copies its store for a follower the same way); the follower installs that one.
   */
  private asSent(node: SimNode, m: Message): Message {
    if (m.type !== 'Snapshot' || node.applied <= m.snapshot.meta.index) return m;
    this.stats.laterSnapshotsSent++;
    const meta = node.raft!.snapshotMetaAt(node.applied);
    return { ...m, snapshot: { meta, data: ledgerSnapshotText(node.ledger) } };
  }

  private persist(node: SimNode, rd: Ready): void {
    const d = node.durable;
    if (rd.snapshot) {
      d.snapshot = rd.snapshot;
      d.entries = []; // the snapshot replaces the whole log
    }
    const first = rd.entries[0];
    if (first) {
      const snapIndex = d.snapshot?.meta.index ?? 0;
      const durableLast = snapIndex + d.entries.length;
      if (first.index <= snapIndex || first.index > durableLast + 1) {
        throw new SimulationFailure(
          `${node.id}: Ready entries start at ${first.index}, durable log holds ${snapIndex + 1}..${durableLast}`,
        );
      }
      d.entries.length = first.index - snapIndex - 1;
      d.entries.push(...rd.entries);
    }
    if (rd.hardState) d.hardState = rd.hardState;
  }

  private restoreSnapshot(node: SimNode, snap: Snapshot): void {
    const known = this.committed.get(snap.meta.index);
    if (known !== undefined && Number(known.split('|')[0]) !== snap.meta.term) {
      throw new SimulationFailure(
        `${node.id}: snapshot at ${snap.meta.index} has term ${snap.meta.term}, committed ${known}`,
      );
    }
    node.ledger = restoreLedgerText(snap.data);
    node.applied = snap.meta.index;
    this.stats.snapshotsSent++;
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index !== node.applied + 1) {
      throw new SimulationFailure(`${node.id}: applied entry ${e.index} after ${node.applied}`);
    }
    node.applied = e.index;
    this.recordCommitted(node, e);
    let result: LedgerOutput = null;
    if (e.type === 'normal') {
      const applied = node.ledger.apply(e.data, e.index);
      if (isCommandError(applied)) throw new SimulationFailure(`${node.id}: entry ${e.index} failed: ${applied.error}`);
      // A batch answers its results in the order of its orders, as the HTTP API does.
      result = 'results' in applied ? applied.results : (applied as OrderResult);
    } else if (e.type === 'config') {
      this.onConfigApplied(node, e);
    }
    const pending = node.proposals.get(e.index);
    if (!pending) return;
    node.proposals.delete(e.index);
    if (pending.client.op !== pending.op) return; // the client gave up on it already
    if (e.term === pending.term && result) {
      this.complete(pending.client, result);
    } else {
      // Another entry took its place: this proposal can never commit, so it took no effect; try again.
      this.history.splice(this.history.indexOf(pending.op), 1);
      const input = pending.op.input;
      pending.client.retry = input.kind === 'getOrder' ? null : input;
      pending.client.op = null;
      pending.client.nextAt = this.now + 1;
    }
  }

  private onConfigApplied(node: SimNode, e: Entry): void {
    const cc = parseConfChangeEntry(e);
    if (cc.type !== 'remove') return;
    // Once the removal is applied on the leader it is committed: the removed node can be switched off.
    if (node.raft?.status().role === 'leader' || node.id === cc.nodeId) {
      const removed = this.nodes.get(cc.nodeId);
      if (removed && !removed.retired && node.raft?.status().role === 'leader') removed.retired = true;
    }
  }

  private serveReads(node: SimNode): void {
    for (const [ctx, r] of node.reads) {
      if (r.index === null || node.applied < r.index) continue;
      node.reads.delete(ctx);
      if (r.client.op !== r.op || r.op.input.kind !== 'getOrder') continue;
      this.complete(r.client, node.ledger.getOrder(r.op.input.orderId) ?? null);
    }
  }

  private maybeCompact(node: SimNode): void {
    const raft = node.raft!;
    if (node.applied - raft.status().snapshotIndex < this.compactEvery) return;
    raft.compact(node.applied, ledgerSnapshotText(node.ledger));
    const snap = raft.latestSnapshot()!;
    const d = node.durable;
    const oldSnapIndex = d.snapshot?.meta.index ?? 0;
    d.entries = d.entries.slice(snap.meta.index - oldSnapIndex);
    d.snapshot = snap;
  }

  // ------------------------------------------------------------------ network

  private send(m: Message): void {
    if (this.rand() < this.lossRate) return;
    const copies = this.rand() < this.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const at = this.now + this.int(1, this.maxDelay);
      const bucket = this.queue.get(at);
      if (bucket) bucket.push(m);
      else this.queue.set(at, [m]);
    }
  }

  private deliverDue(): void {
    const due = this.queue.get(this.now);
    if (!due) return;
    this.queue.delete(this.now);
    for (const m of due) {
      if (this.blocked.has(`${m.from}>${m.to}`)) continue;
      if (m.type === 'Append' && this.holdsOwnTermEntries(m.from, m.term, m.entries)) continue;
      const to = this.nodes.get(m.to);
      if (!to || !to.raft || to.retired) continue;
      this.trace?.(`${this.now} deliver ${JSON.stringify(m).slice(0, 300)}`);
      to.raft.step(m);
    }
  }

  private holdsOwnTermEntries(from: NodeId, term: number, entries: Entry[]): boolean {
    const held = this.ownTermEntriesHeld.get(from);
    if (!held) return false;
    if (held.until <= this.now) {
      this.ownTermEntriesHeld.delete(from);
      return false;
    }
    return held.term === term && entries.some((e) => e.term === term);
  }

  private nemesis(): void {
    if (this.now >= this.partitionUntil && this.blocked.size > 0) this.blocked.clear();
    if (this.blocked.size === 0 && this.rand() < 0.003) this.partition();
    const live = this.live();
    const down = [...this.nodes.values()].filter((n) => !n.raft && !n.retired).length;
    if (this.rand() < this.crashRate && down < Math.floor(this.clusterSize / 2)) {
      // Half the crashes hit a node in the middle of persisting (a vote, appended entries): the window that
      // matters for durability.
      const persisting = live.filter((n) => n.inFlight && (n.inFlight.rd.hardState || n.inFlight.rd.entries.length));
      const victim = persisting.length > 0 && this.rand() < 0.5 ? this.pick(persisting) : this.pick(live);
      if (victim) this.crash(victim, this.int(10, 300));
    }
    for (const [id, at] of this.scheduledCrashes) {
      if (at > this.now) continue;
      this.scheduledCrashes.delete(id);
      const node = this.nodes.get(id);
      if (node?.raft && !node.retired && down < Math.floor(this.clusterSize / 2)) this.crash(node, this.int(10, 200));
    }
    if (this.rand() < 0.002) this.changeMembership();
    if (this.rand() < 0.001) this.transferLeadership();
  }

  private partition(): void {
    const ids = this.live().map((n) => n.id);
    const leader = this.leader();
    let minority: NodeId[];
    if (this.leaderIsolation && leader && this.rand() < 0.7) {
      minority = [leader.id];
    } else {
      minority = ids.filter(() => this.rand() < 0.4);
    }
    for (const a of minority) {
      for (const b of this.nodes.keys()) {
        if (minority.includes(b)) continue;
        this.blocked.add(`${a}>${b}`);
        if (this.rand() < 0.9) this.blocked.add(`${b}>${a}`); // sometimes one-way
      }
    }
    this.partitionUntil = this.now + this.int(50, 400);
    this.trace?.(`${this.now} partition ${[...this.blocked].join(',')} until ${this.partitionUntil}`);
    this.stats.partitions++;
  }

  private healAll(): void {
    this.blocked.clear();
    this.partitionUntil = 0;
    for (const n of this.nodes.values()) if (!n.raft && !n.retired) n.crashedUntil = this.now;
  }

  private changeMembership(): void {
    const leader = this.leader();
    if (!leader) return;
    const raft = leader.raft!;
    const s = raft.status();
    const { voters, learners } = s.config;
    const learner = learners[0];
    let result;
    if (learner !== undefined) {
      const pr = s.progress?.[learner];
      if (!pr || pr.match < s.lastIndex - 5) return;
      result = raft.proposeConfChange({ type: 'promote', nodeId: learner });
    } else if (voters.length > this.clusterSize) {
      result = raft.proposeConfChange({ type: 'remove', nodeId: this.pick(voters) });
    } else {
      const id = `n${this.nextNodeNumber}`;
      result = raft.proposeConfChange({ type: 'addLearner', nodeId: id });
      if (result.ok) {
        this.nextNodeNumber++;
        this.addNode(id, { voters: [], learners: [] });
      }
    }
    if (result.ok) this.stats.membershipChanges++;
    this.trace?.(`${this.now} membership change on ${leader.id}: ${JSON.stringify(result)}`);
  }

  private transferLeadership(): void {
    const leader = this.leader();
    if (!leader) return;
    const others = leader.raft!.status().config.voters.filter((id) => id !== leader.id);
    if (others.length === 0) return;
    const target = this.pick(others);
    leader.raft!.transferLeadership(target);
    this.stats.transfers++;
    this.trace?.(`${this.now} transfer leadership ${leader.id} -> ${target}`);
  }

  // ------------------------------------------------------------------ clients

  private runClients(newWork: boolean): void {
    for (const c of this.clients) {
      if (c.op) {
        if (this.now - c.op.invokeTime >= OP_TIMEOUT) this.timeout(c);
        continue;
      }
      if (this.now < c.nextAt) continue;
      if (!newWork && !c.retry) continue;
      this.issue(c);
    }
  }

  private issue(c: Client): void {
    const candidates = this.live();
    if (candidates.length === 0) return;
    const guess = c.leaderGuess ? this.nodes.get(c.leaderGuess) : undefined;
    const node = guess?.raft && !guess.retired ? guess : this.pick(candidates);
    const raft = node.raft!;
    const read = !c.retry && this.orderIds.length > 0 && this.rand() < 0.3;
    if (read) {
      const orderId = this.rand() < 0.9 ? this.pick(this.orderIds) : `never-${this.opSeq}`;
      const op = this.newOp(c, { kind: 'getOrder', orderId });
      const ctx = `read-${op.id}`;
      node.reads.set(ctx, { op, client: c, index: null });
      raft.readIndex(ctx);
      return;
    }
    const input = c.retry ?? this.newWrite();
    // Order entries carry the proposer's clock, as LedgerNode stamps them: each result keeps it as executedTs, and
    // the checker holds every repeat and read to the first application's instant.
    const ts = Math.floor(this.now);
    const command: LedgerCommand =
      input.kind === 'applyOrder'
        ? { type: 'order', order: input.order, ts }
        : input.kind === 'cancel'
          ? { type: 'cancel', orderId: input.orderId, account: input.account }
          : { type: 'orderBatch', orders: input.orders, ts };
    const res = raft.propose(encodeCommand(command));
    if (!res.ok) {
      c.retry = input;
      c.leaderGuess = res.leaderId ?? this.pick(candidates).id;
      c.nextAt = this.now + 5;
      return;
    }
    c.retry = null;
    c.leaderGuess = node.id;
    const op = this.newOp(c, input);
    node.proposals.set(res.index, { op, term: res.term, client: c });
  }

  /**
   * A fifth of the writes are batches of 2-6 orders in one entry; their orders are new ones or (newOrder's 10%)
   * repeats of earlier ids, and some batches repeat one of their own ids (a duplicate of the first, in the batch).
   */
  private newWrite(): WriteInput {
    if (this.rand() < 0.1) return this.newCancel();
    if (this.rand() >= 0.2) return { kind: 'applyOrder', order: this.newOrder() };
    const orders = Array.from({ length: this.int(2, 6) }, () => this.newOrder());
    if (this.rand() < 0.2) {
      const repeated = this.pick(orders);
      orders.splice(this.int(1, orders.length), 0, { ...repeated, quantity: repeated.quantity + 1 });
    }
    return { kind: 'applyBatch', orders };
  }

  /**
   * A cancel racing its order: of an order already issued (often still in flight, or applied: then refused with
   * its status), or of one of the next few not issued yet (the cancel then leaves a tombstone and the order, when
   * it comes, is CANCELED). Always with the order id's own account: cancels by another account are the state
   * machine's unit tests' business, and the model takes one account per id.
   */
  private newCancel(): WriteInput {
    const ahead = this.orderIds.length === 0 || this.rand() < 0.4;
    const orderId = ahead ? `o${this.orderSeq + this.int(0, 3)}` : this.pick(this.orderIds.slice(-20));
    return { kind: 'cancel', orderId, account: accountOf(orderId) };
  }

  private newOrder(): Order {
    if (this.orderIds.length > 0 && this.rand() < 0.1) {
      // The same order id again: the ledger must answer the first result, marked duplicate.
      const orderId = this.pick(this.orderIds);
      return { orderId, account: accountOf(orderId), symbol: 'SIM', side: 'BUY', quantity: 1, price: 10 };
    }
    const orderId = `o${this.orderSeq++}`;
    this.orderIds.push(orderId);
    const big = this.rand() < 0.05; // over the quantity limit: rejected by the risk check
    return {
      orderId,
      account: accountOf(orderId),
      symbol: this.pick(['SIM', 'ABC']),
      side: this.pick(['BUY', 'SELL']),
      quantity: big ? 20_000 : this.int(1, 50),
      price: 10,
    };
  }

  private newOp(c: Client, input: LedgerInput): Operation<LedgerInput, LedgerOutput> {
    const op: Operation<LedgerInput, LedgerOutput> = { id: this.opSeq++, clientId: c.id, input, invokeTime: this.now };
    this.history.push(op);
    c.op = op;
    this.stats.operations++;
    if (input.kind === 'applyBatch') this.stats.batches++;
    if (input.kind === 'cancel') this.stats.cancels++;
    return op;
  }

  private complete(c: Client, output: LedgerOutput): void {
    const op = c.op!;
    op.output = output;
    op.completeTime = this.now;
    c.op = null;
    c.nextAt = this.now + this.int(1, 20);
    this.stats.acknowledged++;
  }

  private timeout(c: Client): void {
    const op = c.op!;
    c.op = null;
    c.leaderGuess = null;
    c.nextAt = this.now + 1;
    this.stats.timedOut++;
    if (op.input.kind === 'getOrder') {
      // A read that never answered changed nothing: leave it out of the history.
      this.history.splice(this.history.indexOf(op), 1);
    } else {
      c.retry = op.input; // outcome unknown: retry with the same order ids (exactly-once)
    }
  }

  // ------------------------------------------------------------------ invariants

  private registerEntries(node: SimNode, entries: Entry[]): void {
    const raft = node.raft!;
    for (const e of entries) {
      const prevTerm = termAt(raft, e.index - 1);
      const key = `${e.index}:${e.term}`;
      const value = `${e.type}|${e.data}|${prevTerm ?? '?'}`;
      const seen = this.entryRegistry.get(key);
      if (seen === undefined) this.entryRegistry.set(key, value);
      else if (seen !== value && !seen.endsWith('|?') && !value.endsWith('|?')) {
        // Log matching: same index and term → same entry and the same predecessor (hence the same prefix).
        throw new SimulationFailure(`log matching violated at ${key}: ${seen} vs ${value} (on ${node.id})`);
      }
    }
  }

  private recordCommitted(node: SimNode, e: Entry): void {
    const value = `${e.term}|${e.type}|${e.data}`;
    const known = this.committed.get(e.index);
    if (known === undefined) {
      this.committed.set(e.index, value);
      this.maxCommitted = Math.max(this.maxCommitted, e.index);
    } else if (known !== value) {
      throw new SimulationFailure(`state machine safety: ${node.id} committed ${value} at ${e.index}, others ${known}`);
    }
  }

  private checkInvariants(): void {
    for (const node of this.live()) {
      const raft = node.raft!;
      const s = raft.status();
      this.stats.maxTerm = Math.max(this.stats.maxTerm, s.term);
      // Commit progress: every newly committed entry must agree with what any node committed before.
      if (s.commitIndex > node.recordedCommit) {
        const from = Math.max(node.recordedCommit + 1, s.snapshotIndex + 1);
        for (const e of raft.entries(from, s.commitIndex + 1)) this.recordCommitted(node, e);
        node.recordedCommit = s.commitIndex;
      }
      if (s.role !== 'leader') continue;
      // Election safety: at most one leader per term.
      const holder = this.leaderOfTerm.get(s.term);
      if (holder !== undefined && holder !== node.id) {
        throw new SimulationFailure(`election safety: ${holder} and ${node.id} both lead term ${s.term}`);
      }
      if (holder === undefined) {
        this.leaderOfTerm.set(s.term, node.id);
        this.stats.elections++;
      }
      if (node.lastLeaderTerm !== s.term) {
        node.lastLeaderTerm = s.term;
        this.checkLeaderCompleteness(node);
        if (this.faultsOn && this.rand() < this.newLeaderCrashRate) {
          this.scheduledCrashes.set(node.id, this.now + this.int(1, 40));
        } else if (this.faultsOn && this.rand() < this.figure8Rate) {
          const until = this.now + this.int(20, 120);
          this.ownTermEntriesHeld.set(node.id, { term: s.term, until });
          this.scheduledCrashes.set(node.id, until);
        }
      }
    }
  }

  /** A new leader's log holds every entry committed so far (§5.4). */
  private checkLeaderCompleteness(node: SimNode): void {
    const raft = node.raft!;
    const s = raft.status();
    for (let i = s.snapshotIndex + 1; i <= this.maxCommitted; i++) {
      const known = this.committed.get(i);
      if (known === undefined) continue;
      const e = raft.entries(i, i + 1)[0];
      if (!e || `${e.term}|${e.type}|${e.data}` !== known) {
        throw new SimulationFailure(
          `leader completeness: ${node.id} leads term ${s.term} without committed entry ${i} (${known}); has ${e ? e.term : 'nothing'}`,
        );
      }
    }
    const snap = raft.latestSnapshot();
    if (snap && snap.meta.index > this.maxCommitted) {
      throw new SimulationFailure(`${node.id}: snapshot at ${snap.meta.index} beyond anything committed`);
    }
  }

  // ------------------------------------------------------------------ the end

  private members(): SimNode[] {
    const leader = this.leader();
    if (!leader) return this.live();
    const { voters, learners } = leader.raft!.status().config;
    return [...voters, ...learners].map((id) => this.nodes.get(id)).filter((n): n is SimNode => !!n?.raft);
  }

  private converged(): boolean {
    const leader = this.leader();
    if (!leader) return false;
    if (this.clients.some((c) => c.op || c.retry)) return false;
    const { commitIndex, lastIndex } = leader.raft!.status();
    // Everything the leader holds is committed (its own no-op included) and applied on every member.
    if (commitIndex !== lastIndex || commitIndex < this.maxCommitted) return false;
    return this.members().every((n) => n.applied === commitIndex);
  }

  private describeNodes(): string {
    const nodes = [...this.nodes.values()].map((n) => {
      if (n.retired) return `${n.id}: retired`;
      if (!n.raft) return `${n.id}: down`;
      const s = n.raft.status();
      return `${n.id}: ${s.role} term ${s.term} commit ${s.commitIndex} applied ${n.applied} last ${s.lastIndex} snapshot ${s.snapshotIndex} config ${JSON.stringify(s.config)}${s.progress ? ` progress ${JSON.stringify(s.progress)}` : ''}`;
    });
    const clients = this.clients.map(
      (c) =>
        `client ${c.id}: op ${c.op ? JSON.stringify(c.op) : 'none'} retry ${c.retry ? JSON.stringify(c.retry) : 'none'}`,
    );
    return [...nodes, ...clients].join('\n  ');
  }

  private finalChecks(): void {
    if (!this.converged()) {
      throw new SimulationFailure(`cluster did not converge after faults stopped:\n  ${this.describeNodes()}`);
    }
    const members = this.members();
    const reference = ledgerSnapshotText(members[0]!.ledger);
    for (const n of members) {
      if (ledgerSnapshotText(n.ledger) !== reference)
        throw new SimulationFailure(`${n.id}: ledger differs from ${members[0]!.id}`);
    }
    for (const [index, value] of this.committed) {
      if (index > members[0]!.applied) {
        throw new SimulationFailure(`committed entry ${index} (${value}) was lost:\n  ${this.describeNodes()}`);
      }
    }
    const lin = checkLinearizability(ledgerModel, this.history);
    if (lin.verdict !== 'linearizable') {
      throw new SimulationFailure(
        `history is ${lin.verdict}: ${JSON.stringify(lin.failingPartition)} longest ${JSON.stringify(lin.longestLinearization)}`,
      );
    }
    const ledger = members[0]!.ledger;
    this.stats.canceledOrders = this.orderIds.filter((id) => ledger.getOrder(id)?.status === 'CANCELED').length;
    const finalAccepted = this.orderIds
      .map((id) => ledger.getOrder(id))
      .filter((r): r is OrderResult => r?.status === 'ACCEPTED')
      .map((r) => ({ orderId: r.orderId, seq: r.seq! }));
    const seqs = checkSeqs(this.history, finalAccepted);
    if (!seqs.ok) throw new SimulationFailure(`sequence numbers: ${seqs.problems.join('; ')}`);
  }
}

/** An order id's one account, known before the order is issued (so a cancel can run ahead of it). */
function accountOf(orderId: string): string {
  return Number(orderId.slice(1)) % 2 === 0 ? 'acct' : 'acct2';
}

function termAt(raft: Raft, index: number): number | undefined {
  if (index === 0) return 0;
  const e = raft.entries(index, index + 1)[0];
  if (e) return e.term;
  const snap = raft.latestSnapshot();
  return snap && snap.meta.index === index ? snap.meta.term : undefined;
}
