import { seededRandom } from '../../../../raft-node/src/chaos';
import {
  Raft,
  type ClusterConfig,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Snapshot,
} from '../../../../raft-node/src/core';

export interface NodeOptions {
  voters: NodeId[];
  learners?: NodeId[];
  entries?: Entry[];
  hardState?: HardState;
  snapshot?: Snapshot | null;
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTick?: number;
  heartbeatTick?: number;
  maxInflightMsgs?: number;
  maxEntriesPerAppend?: number;
  transferTimeoutTicks?: number;
}

/** Builds log entries from a list of terms, starting at index 1 (a Figure-7 style log). */
export function logOfTerms(terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: i + 1, term, type: 'normal', data: `e${i + 1}@${term}` }));
}

export function newRaft(id: NodeId, opts: NodeOptions, seed = 1): Raft {
  const config: ClusterConfig = { voters: opts.voters, learners: opts.learners ?? [] };
  const cfg: RaftConfig = {
    id,
    electionTick: opts.electionTick ?? 10,
    heartbeatTick: opts.heartbeatTick ?? 1,
    maxInflightMsgs: opts.maxInflightMsgs ?? 256,
    maxEntriesPerAppend: opts.maxEntriesPerAppend ?? 64,
    checkQuorum: opts.checkQuorum ?? false,
    preVote: opts.preVote ?? false,
    random: seededRandom(seed),
    transferTimeoutTicks: opts.transferTimeoutTicks,
  };
  return new Raft(cfg, {
    hardState: opts.hardState ?? { term: 0, vote: null, commit: 0 },
    snapshot: opts.snapshot ?? null,
    entries: opts.entries ?? [],
    config,
  });
}

/** Drains one node: everything it wants to send (its persistence is taken as instantaneous here). */
export function drain(r: Raft): Message[] {
  const out: Message[] = [];
  while (r.hasReady()) {
    const rd = r.ready();
    out.push(...rd.messagesNow, ...rd.messages);
    r.advance();
  }
  return out;
}

/**
 * A tiny in-memory network of Raft instances for scenario tests: it handles each node's Ready (persistence is
 * instantaneous, committed entries are recorded as applied) and delivers messages, honouring cut links and an
 * optional drop filter.
 */
export class Network {
  readonly nodes = new Map<NodeId, Raft>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly readStates = new Map<NodeId, ReadState[]>();
  readonly snapshotsReceived = new Map<NodeId, Snapshot[]>();
  /** Every message delivered, in order (for assertions on what was sent). */
  readonly delivered: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly down = new Set<NodeId>();
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | null = null;
  /** Called when a message is delivered, before the recipient steps it. */
  onDeliver: ((m: Message) => void) | null = null;
  private inbox: Message[] = [];

  constructor(nodes: Raft[]) {
    for (const n of nodes) this.add(n);
  }

  add(n: Raft): void {
    this.nodes.set(n.id, n);
    this.applied.set(n.id, []);
    this.readStates.set(n.id, []);
    this.snapshotsReceived.set(n.id, []);
  }

  node(id: NodeId): Raft {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Cut both directions between a and b. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  /** Take a node off the network entirely (it is neither ticked nor reached). */
  stop(id: NodeId): void {
    this.down.add(id);
  }

  heal(): void {
    this.cut.clear();
    this.down.clear();
  }

  /** Process every pending Ready and deliver messages until nothing moves (bounded). */
  stabilize(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      this.collect();
      if (this.inbox.length === 0) return;
      const batch = this.inbox;
      this.inbox = [];
      for (const m of batch) this.deliver(m);
    }
    throw new Error('network did not stabilize');
  }

  /** Deliver messages one round at a time, only while `pred` holds for the next message. */
  collect(): void {
    for (const [id, n] of this.nodes) {
      if (this.down.has(id)) continue;
      while (n.hasReady()) {
        const rd = n.ready();
        if (rd.snapshot) this.snapshotsReceived.get(id)!.push(rd.snapshot);
        this.applied.get(id)!.push(...rd.committedEntries);
        this.readStates.get(id)!.push(...rd.readStates);
        this.inbox.push(...rd.messagesNow, ...rd.messages);
        n.advance();
      }
    }
  }

  private deliver(m: Message): void {
    if (this.down.has(m.to) || this.down.has(m.from) || this.cut.has(`${m.from}>${m.to}`)) return;
    if (this.filter && !this.filter(m)) return;
    const to = this.nodes.get(m.to);
    if (!to) return;
    this.delivered.push(m);
    this.onDeliver?.(m);
    to.step(m);
  }

  tick(ids: NodeId[] = [...this.nodes.keys()], times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) if (!this.down.has(id)) this.node(id).tick();
      this.stabilize();
    }
  }

  /** Tick only `id` until it starts campaigning, then let the election play out. */
  campaign(id: NodeId): void {
    const n = this.node(id);
    for (let i = 0; i < 1000 && n.status().role === 'follower'; i++) n.tick();
    this.stabilize();
  }

  leader(): Raft | undefined {
    const leaders = [...this.nodes.entries()]
      .filter(([id, n]) => !this.down.has(id) && n.status().role === 'leader')
      .map(([, n]) => n);
    // The leader of the highest term (a stale leader may not know yet).
    return leaders.sort((a, b) => b.status().term - a.status().term)[0];
  }

  /** Propose on the current leader and replicate. */
  propose(data: string): number {
    const l = this.leader();
    if (!l) throw new Error('no leader');
    const res = l.propose(data);
    if (!res.ok) throw new Error(`proposal refused: ${res.reason}`);
    this.stabilize();
    return res.index;
  }

  /** Terms of a node's log from index 1 (compacted entries are skipped). */
  terms(id: NodeId): number[] {
    const n = this.node(id);
    return n.entries(1, n.status().lastIndex + 1).map((e) => e.term);
  }
}

/** The node's seeded PRNG (mulberry32), so election timeouts in these tests are reproducible. */
export { seededRandom };
