import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from './emulators/child-service';
import { STDIN_PARENT_WATCH } from '../shared/process/parent-watch';
import { TokenSource } from '../shared/raft-client/auth';
import type { NodeStatus, Position } from '../shared/raft-client/types';
import type { RaftReader } from '../tools/lib/verify-pipeline';

const REPO_ROOT = resolve(__dirname, '..');
const MAIN = join(REPO_ROOT, 'raft-node/src/main.ts');

interface NodeAddress {
  id: string;
  httpPort: number;
  raftPort: number;
}

export interface RaftNodeProcess extends NodeAddress {
  httpUrl: string;
  process: ChildProcess | undefined;
  /** The env this run was started with besides the cluster's (chaos flags). */
  extraEnv: Record<string, string>;
}

export interface RaftNodesOptions {
  /** Parent folder: `<dir>/<id>/` data, `<dir>/<id>.log` output, `<dir>/cluster.json` ports and secret. */
  dir: string;
  size?: number;
  /** Extra env for every node (CHAOS_* for the chaos scenarios). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

const newSecret = (): string => randomBytes(24).toString('base64url');

/**
 * Three (by default) `raft-node` processes for the embedded cloud, started together with the same env on
 * every start: n1 is RAFT_INITIAL_CLUSTER_STATE=new and bootstraps only from an empty data dir once every
 * peer answers uninitialized (so a lost n1 data dir rejoins instead of forming a second cluster); the others
 * join through RAFT_PEERS. Ports and the auth secret are kept in the data dir, so a second `npm start` on the same
 * data restarts the same cluster (the members' addresses are in their Raft logs). Each node runs in a
 * process group of its own, so stopping it leaves nothing behind.
 */
export class RaftNodes {
  readonly nodes: RaftNodeProcess[];
  readonly secret: string;
  /** The nodes' peer-handshake secret: only the nodes get it (RAFT_PEER_SECRET), never the functions. */
  private readonly peerSecret: string;
  private readonly tokens: TokenSource;
  private readonly logs = new Map<string, WriteStream>();

  private constructor(
    private readonly opts: RaftNodesOptions,
    addresses: NodeAddress[],
    secret: string,
    peerSecret: string,
  ) {
    this.secret = secret;
    this.peerSecret = peerSecret;
    this.tokens = new TokenSource({ secret });
    this.nodes = addresses.map((a) => ({
      ...a,
      httpUrl: `http://127.0.0.1:${a.httpPort}`,
      process: undefined,
      extraEnv: {},
    }));
  }

  /** Reads (or chooses and saves) the nodes' ports and the auth secret; starts nothing yet. */
  static plan(opts: RaftNodesOptions): RaftNodes {
    mkdirSync(opts.dir, { recursive: true });
    const file = join(opts.dir, 'cluster.json');
    if (existsSync(file)) {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        nodes: NodeAddress[];
        secret: string;
        peerSecret?: string;
      };
      if (!saved.peerSecret) {
        // A cluster.json from before peer secrets: saved once, so every later start (and every tool) agrees.
        saved.peerSecret = newSecret();
        writeFileSync(file, JSON.stringify(saved, null, 2), { mode: 0o600 });
      }
      return new RaftNodes(opts, saved.nodes, saved.secret, saved.peerSecret);
    }
    throw new Error(`no ${file}: call RaftNodes.create first`);
  }

  static async create(opts: RaftNodesOptions): Promise<RaftNodes> {
    const file = join(opts.dir, 'cluster.json');
    if (existsSync(file)) return RaftNodes.plan(opts);
    mkdirSync(opts.dir, { recursive: true });
    const nodes: NodeAddress[] = [];
    for (let i = 1; i <= (opts.size ?? 3); i++)
      nodes.push({ id: `n${i}`, httpPort: await freePort(), raftPort: await freePort() });
    const saved = { nodes, secret: newSecret(), peerSecret: newSecret() };
    writeFileSync(file, JSON.stringify(saved, null, 2), { mode: 0o600 });
    return RaftNodes.plan(opts);
  }

  /**
   * Starts the nodes at once and waits until all are voters. Never one by one: n1 bootstraps a new cluster only
   * once every peer answers, and a restarted cluster needs a quorum up.
   */
  async start(): Promise<void> {
    try {
      for (const node of this.nodes) this.spawn(node);
      for (const node of this.nodes) await this.waitReady(node);
      await this.waitAllVoters();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  get httpUrls(): string[] {
    return this.nodes.map((n) => n.httpUrl);
  }

  node(id: string): RaftNodeProcess {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no raft node ${id}`);
    return n;
  }

  isRunning(n: RaftNodeProcess): boolean {
    return n.process !== undefined && n.process.exitCode === null && n.process.signalCode === null;
  }

  /** Starts a node (again) with its own data and the cluster's env plus `extraEnv`. */
  spawn(node: RaftNodeProcess, extraEnv: Record<string, string> = {}): void {
    let log = this.logs.get(node.id);
    if (!log) {
      log = createWriteStream(join(this.opts.dir, `${node.id}.log`), { flags: 'a' });
      this.logs.set(node.id, log);
    }
    const first = this.nodes[0];
    const peers = this.nodes.filter((n) => n !== node).map((n) => n.httpUrl);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      RAFT_NODE_ID: node.id,
      RAFT_BIND_ADDR: `127.0.0.1:${node.raftPort}`,
      PORT_HTTP: String(node.httpPort),
      HTTP_BIND_HOST: '127.0.0.1',
      RAFT_DATA_DIR: join(this.opts.dir, node.id),
      RAFT_AUTH_SECRET: this.secret,
      RAFT_PEER_SECRET: this.peerSecret,
      LOG_LEVEL: 'info',
      RAFT_INITIAL_CLUSTER_STATE: node === first ? 'new' : 'existing',
      RAFT_PEERS: peers.join(',') || 'none',
      ...this.opts.env,
      ...extraEnv,
      // The node shuts down when this process goes, however it ends (its own process group means no
      // signal sent to ours reaches it): see shared/process/parent-watch.ts.
      ...STDIN_PARENT_WATCH.env,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      cwd: REPO_ROOT,
      env,
      stdio: [STDIN_PARENT_WATCH.stdin, 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    node.process = child;
    node.extraEnv = extraEnv;
  }

  async status(node: RaftNodeProcess): Promise<NodeStatus> {
    const res = await fetch(`${node.httpUrl}/v1/status`, {
      headers: { authorization: this.tokens.header('read') },
      signal: AbortSignal.timeout(1000),
    });
    if (res.status !== 200) throw new Error(`${node.id} /v1/status answered ${res.status}`);
    return (await res.json()) as NodeStatus;
  }

  /**
   * The positions as this node's own state machine has them (a ReadIndex read on that node, not
   * redirected). Retried for up to a minute: under a lossy network a read may time out or find no leader.
   */
  async positions(node: RaftNodeProcess): Promise<Position[]> {
    return waitFor(`${node.id} /v1/positions`, 60_000, async () => {
      const res = await fetch(`${node.httpUrl}/v1/positions`, {
        headers: { authorization: this.tokens.header('read') },
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status !== 200) throw new Error(`${node.id} /v1/positions answered ${res.status}`);
      return (await res.json()) as Position[];
    });
  }

  async leader(timeoutMs = 15_000): Promise<RaftNodeProcess> {
    return waitFor('a Raft leader', timeoutMs, async () => {
      const statuses = await Promise.all(
        this.nodes.filter((n) => this.isRunning(n)).map((n) => this.status(n).catch(() => undefined)),
      );
      const leaders = statuses.filter((s): s is NodeStatus => s?.role === 'leader').sort((a, b) => b.term - a.term);
      return leaders[0] ? this.node(leaders[0].nodeId) : undefined;
    });
  }

  /** Sends a signal to a node's process group; for SIGKILL/SIGTERM waits until it has exited. */
  async signal(node: RaftNodeProcess, signal: NodeJS.Signals): Promise<void> {
    const child = node.process;
    if (!child || !this.isRunning(node) || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    process.kill(-child.pid, signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
  }

  async waitReady(node: RaftNodeProcess, timeoutMs = this.opts.startTimeoutMs ?? 60_000): Promise<void> {
    await waitFor(`${node.id} /readyz`, timeoutMs, async () => {
      if (!this.isRunning(node))
        throw new Error(`raft node ${node.id} exited (see ${join(this.opts.dir, `${node.id}.log`)})`);
      const res = await fetch(`${node.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    });
  }

  async waitAllVoters(timeoutMs = this.opts.startTimeoutMs ?? 60_000): Promise<void> {
    await waitFor('every Raft node to be a voter', timeoutMs, async () => {
      const s = await this.status(this.nodes[0] as RaftNodeProcess).catch(() => undefined);
      return s && this.nodes.every((n) => s.members.some((m) => m.id === n.id && m.voter)) ? true : undefined;
    });
  }

  /** Waits until the running nodes agree on the commit index and have applied it. */
  async waitConverged(timeoutMs = 20_000): Promise<void> {
    await waitFor('the Raft nodes to converge', timeoutMs, async () => {
      const s = await Promise.all(this.nodes.map((n) => this.status(n)));
      const commit = s[0]?.commitIndex;
      return s.every((x) => x.commitIndex === commit && x.appliedIndex === commit) ? true : undefined;
    });
  }

  async commitIndex(): Promise<number> {
    const s = await Promise.all(this.nodes.map((n) => this.status(n).catch(() => undefined)));
    return Math.max(0, ...s.map((x) => x?.commitIndex ?? 0));
  }

  /** The reader verify uses: each node's own positions, after the nodes have converged. */
  reader(): RaftReader {
    return {
      nodeIds: this.nodes.map((n) => n.id),
      positions: (id) => this.positions(this.node(id)),
      waitConverged: () => this.waitConverged(),
      commitIndex: () => this.commitIndex(),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        const child = n.process;
        if (!child || !this.isRunning(n) || child.pid === undefined) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        try {
          process.kill(-child.pid, 'SIGCONT'); // a paused node (chaos) must run to handle SIGTERM
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          return;
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-(child.pid as number), 'SIGKILL');
          } catch {
            // already gone
          }
        }, 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const log of this.logs.values()) log.end();
  }
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
