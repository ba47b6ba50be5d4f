import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './emulators/child-service';
import { bundledScript } from './process-bundle';
import { STDIN_PARENT_WATCH } from '../shared/process/parent-watch';
import { TokenSource } from '../shared/ledger-contract/auth';
import type { NodeStatus } from '../shared/ledger-contract';
import { waitFor } from '../shared/util/wait';

/**
 * The one launcher of a local Raft ledger cluster: `raft-node` processes on loopback, started together
 * with the same env on every start, each told the others' URLs (RAFT_PEERS): n1 is
 * RAFT_INITIAL_CLUSTER_STATE=new and bootstraps only from an empty data dir once every peer answers
 * uninitialized (so a lost n1 data dir rejoins instead of forming a second cluster), the rest join. The embedded cloud (`npm start`), `npm run bench:raft`, the chaos scenarios
 * and the tests all start their clusters here.
 *
 * Why local-cloud/ and not raft-node/: raft-node/ is the node itself (what its container image ships);
 * starting several of them as child processes on this machine is the same job as starting the emulators
 * beside them, which is what local-cloud/ is for — a newcomer looking for "how does a local ledger come
 * up" looks here, next to emulators/.
 *
 * Ports and the secrets are kept in `<dir>/cluster.json` (mode 0600: it holds the root secret), so a cluster
 * started again on the same dir is the same cluster (the members' addresses are in their Raft logs). Each node runs in a process group
 * of its own, so stopping it leaves nothing behind, and watches this process through its stdin
 * (shared/process/parent-watch.ts), so a launcher that dies, even by SIGKILL, takes its nodes with it.
 */

const REPO_ROOT = resolve(__dirname, '..');
const MAIN = join(REPO_ROOT, 'raft-node', 'src', 'main.ts');

interface NodeAddress {
  id: string;
  httpPort: number;
  raftPort: number;
  /** The binary client protocol's port (PORT_CLIENT); absent in a cluster saved before it existed. */
  clientPort?: number;
  /** The node's own env beyond the cluster's (a node added with a different secret, say). */
  env?: Record<string, string>;
}

interface SavedCluster {
  nodes: NodeAddress[];
  secret: string | undefined;
  /** The nodes' peer-handshake secret (RAFT_PEER_SECRET); absent: the peer key derives from `secret`. */
  peerSecret?: string;
}

const newSecret = (): string => randomBytes(24).toString('base64url');

export interface RaftClusterNode {
  id: string;
  httpPort: number;
  raftPort: number;
  clientPort?: number;
  httpUrl: string;
  raftAddr: string;
  dataDir: string;
  process: ChildProcess | undefined;
  /** The node's own env beyond the cluster's (kept across restarts, saved in cluster.json). */
  ownEnv: Record<string, string>;
  /** The whole env of its latest start (what a test re-runs by hand); empty before the first. */
  env: Record<string, string>;
  /** The env this run was started with besides the node's own (per-run chaos flags). */
  extraEnv: Record<string, string>;
}

export interface RaftClusterOptions {
  /**
   * Parent folder: `<dir>/<id>/` data, `<dir>/<id>.log` output, `<dir>/cluster.json` ports and secret. A
   * fresh temp dir when absent, removed by stop() unless RAFT_CLUSTER_KEEP_DATA is set.
   */
  dir?: string;
  size?: number;
  /**
   * The root secret (RAFT_AUTH_SECRET): `'generate'` makes one and, with it, a separate peer-handshake secret
   * (RAFT_PEER_SECRET, which only the nodes get, never the functions), both kept in cluster.json; a string is
   * used as given (the peer key then derives from it unless `env` sets RAFT_PEER_SECRET); absent runs the
   * cluster open (development only; the nodes warn). A saved cluster keeps its own.
   */
  secret?: 'generate' | string;
  /** Extra env for every node (RAFT_SNAPSHOT_THRESHOLD, CHAOS_*, LOG_LEVEL …). */
  env?: Record<string, string>;
  /** Per-node env by node id. */
  nodeEnv?: Record<string, Record<string, string>>;
  /** Extra Node.js flags for every node process (e.g. --cpu-prof). */
  nodeArgs?: string[];
  startTimeoutMs?: number;
  /** Runs every node under `ulimit -n` this value (a production-like file limit for resource-exhaustion tests). */
  maxOpenFiles?: number;
}

/** raft-node bundled once per launcher (process-bundle.ts); a native addon cannot be bundled: the node loads
 * better-sqlite3 from the repository's node_modules (NODE_PATH below). */
const raftNodeBundle = () => bundledScript(MAIN, 'raft-node.js', ['better-sqlite3']);

/** Plans a cluster (or reads the saved plan), starts it and waits until every node is a ready voter. */
export async function startRaftCluster(opts: RaftClusterOptions = {}): Promise<RaftCluster> {
  const cluster = await RaftCluster.create(opts);
  await cluster.start();
  return cluster;
}

export class RaftCluster {
  readonly dir: string;
  readonly nodes: RaftClusterNode[];
  readonly secret: string | undefined;
  /** The nodes' peer-handshake secret: only the nodes get it (RAFT_PEER_SECRET), never the functions. */
  private readonly peerSecret: string | undefined;
  private readonly tokens: TokenSource | undefined;
  private readonly logs = new Map<string, WriteStream>();
  private readonly startTimeoutMs: number;

  private constructor(
    private readonly opts: RaftClusterOptions,
    dir: string,
    private readonly ownDir: boolean,
    saved: SavedCluster,
  ) {
    this.dir = dir;
    this.secret = saved.secret;
    this.peerSecret = saved.peerSecret;
    this.tokens = saved.secret ? new TokenSource({ secret: saved.secret }) : undefined;
    this.nodes = saved.nodes.map((a) => this.toNode(a));
    this.startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  }

  /** An admin-scope auth header for the nodes' API, renewed as it ages (undefined when the cluster runs open). */
  get authorization(): string | undefined {
    return this.tokens?.header('admin');
  }

  /** A cluster saved in `dir` by create(), to read (verify) or start again; throws when there is none. */
  static open(opts: RaftClusterOptions & { dir: string }): RaftCluster {
    const file = join(opts.dir, 'cluster.json');
    if (!existsSync(file)) throw new Error(`no ${file}: no Raft cluster was created in ${opts.dir}`);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as SavedCluster;
    // A generated cluster from before peer secrets: given one now, saved at once, so every later start agrees.
    if (saved.secret && !saved.peerSecret && opts.secret === 'generate') {
      return new RaftCluster(opts, opts.dir, false, { ...saved, peerSecret: newSecret() }).saved();
    }
    return new RaftCluster(opts, opts.dir, false, saved);
  }

  /** Reads the saved plan in `opts.dir`, or chooses free ports (and the secret) and saves them; starts nothing. */
  static async create(opts: RaftClusterOptions = {}): Promise<RaftCluster> {
    if (opts.dir && existsSync(join(opts.dir, 'cluster.json'))) return RaftCluster.open({ ...opts, dir: opts.dir });
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'raft-cluster-'));
    mkdirSync(dir, { recursive: true });
    const nodes: NodeAddress[] = [];
    for (let i = 1; i <= (opts.size ?? 3); i++)
      nodes.push({ id: `n${i}`, httpPort: await freePort(), raftPort: await freePort(), clientPort: await freePort() });
    const generate = opts.secret === 'generate';
    const secret = generate ? newSecret() : opts.secret;
    const cluster = new RaftCluster(opts, dir, opts.dir === undefined, {
      nodes,
      secret,
      ...(generate ? { peerSecret: newSecret() } : {}),
    });
    return cluster.saved();
  }

  /**
   * Starts every node at once and waits until each is a ready voter. Never one by one: n1 bootstraps a new
   * cluster only once every peer answers, and a cluster that ran before needs a quorum up.
   */
  async start(): Promise<void> {
    try {
      for (const node of this.nodes) this.spawn(node);
      for (const node of this.nodes) await this.waitReady(node.id, this.startTimeoutMs, this.nodes);
    } catch (err) {
      // The nodes' own words go with the error: a stopped cluster's temp dir, logs included, is removed.
      const logs = this.nodes.map((n) => this.logTail(n)).join('\n');
      await this.stop().catch(() => undefined);
      throw new Error(`${(err as Error).message}\n${logs}`, { cause: err });
    }
  }

  /** The last lines a node wrote (the start's failure message quotes them). */
  private logTail(node: RaftClusterNode, lines = 12): string {
    let text = '';
    try {
      text = readFileSync(join(this.dir, `${node.id}.log`), 'utf8');
    } catch {
      // never started, or its log already gone
    }
    const child = node.process;
    const state = !child
      ? 'not started'
      : this.isRunning(node)
        ? 'running'
        : `exited ${child.exitCode ?? child.signalCode}`;
    // A line is cut at 400 characters: an error's stack in one JSON line would drown the rest.
    const tail = text
      .trimEnd()
      .split('\n')
      .slice(-lines)
      .map((l) => `    ${l.length > 400 ? `${l.slice(0, 400)} …` : l}`);
    return [`  ${node.id} (${state}), the last lines of its log:`, ...tail].join('\n');
  }

  get httpUrls(): string[] {
    return this.nodes.map((n) => n.httpUrl);
  }

  node(id: string): RaftClusterNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no raft node ${id}`);
    return n;
  }

  isRunning(n: RaftClusterNode): boolean {
    return n.process !== undefined && n.process.exitCode === null && n.process.signalCode === null;
  }

  /** Starts a node (again) with its own data and the cluster's env plus `extraEnv`; does not wait. */
  spawn(node: RaftClusterNode, extraEnv: Record<string, string> = {}): void {
    if (this.isRunning(node)) throw new Error(`raft node ${node.id} is still running`);
    let log = this.logs.get(node.id);
    if (!log) {
      log = createWriteStream(join(this.dir, `${node.id}.log`), { flags: 'a' });
      this.logs.set(node.id, log);
    }
    const first = this.nodes[0];
    const peers = this.nodes.filter((n) => n !== node).map((n) => n.httpUrl);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      // The bundle lives in a temp dir: its external native addon (the order store's SQLite) is found through this.
      NODE_PATH: [join(REPO_ROOT, 'node_modules'), process.env.NODE_PATH].filter(Boolean).join(':'),
      RAFT_NODE_ID: node.id,
      RAFT_BIND_ADDR: node.raftAddr,
      PORT_HTTP: String(node.httpPort),
      ...(node.clientPort ? { PORT_CLIENT: String(node.clientPort) } : {}),
      HTTP_BIND_HOST: '127.0.0.1',
      RAFT_DATA_DIR: node.dataDir,
      ...(this.secret ? { RAFT_AUTH_SECRET: this.secret } : {}),
      ...(this.peerSecret ? { RAFT_PEER_SECRET: this.peerSecret } : {}),
      LOG_LEVEL: 'info',
      RAFT_INITIAL_CLUSTER_STATE: node === first ? 'new' : 'existing',
      RAFT_PEERS: peers.join(',') || 'none',
      ...this.opts.env,
      ...this.opts.nodeEnv?.[node.id],
      ...node.ownEnv,
      ...extraEnv,
    };
    const [command, argv] = this.nodeCommand();
    const child = spawn(command, argv, {
      cwd: REPO_ROOT,
      // Its own process group means no signal sent to ours reaches it: the stdin pipe is its parent watch.
      env: { ...env, ...STDIN_PARENT_WATCH.env },
      stdio: [STDIN_PARENT_WATCH.stdin, 'pipe', 'pipe'],
      detached: true,
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    node.process = child;
    node.env = env;
    node.extraEnv = extraEnv;
  }

  /** The node's command line; under `ulimit -n` when maxOpenFiles is set. */
  private nodeCommand(): [string, string[]] {
    const args = [...(this.opts.nodeArgs ?? []), '--enable-source-maps', raftNodeBundle()];
    const { maxOpenFiles } = this.opts;
    if (maxOpenFiles === undefined) return [process.execPath, args];
    if (!Number.isInteger(maxOpenFiles) || maxOpenFiles < 1) {
      throw new Error(`maxOpenFiles must be a positive integer, got ${maxOpenFiles}`);
    }
    // `exec` keeps the pid: kill() and the data-dir lock see the node itself, not a shell.
    return ['/bin/sh', ['-c', `ulimit -n ${maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...args]];
  }

  /** Starts a stopped node again with the same data dir and env; waits for /healthz. */
  async restart(id: string): Promise<void> {
    const node = this.node(id);
    this.spawn(node);
    await this.waitHealthy(node);
  }

  /**
   * kill -9 a node, delete its data dir (a lost volume) and start it again with the same env, plus `env` if given
   * (kept for its later restarts), at new ports when `newAddress` (a replaced task with a new IP); waits for /healthz.
   */
  async wipeAndRestart(id: string, options?: { newAddress?: boolean; env?: Record<string, string> }): Promise<void> {
    const node = this.node(id);
    await this.kill(id, 'SIGKILL');
    rmSync(node.dataDir, { recursive: true, force: true });
    if (options?.newAddress) {
      const [httpPort, raftPort, clientPort] = [await freePort(), await freePort(), await freePort()];
      const { httpUrl, raftAddr } = this.toNode({ id, httpPort, raftPort });
      Object.assign(node, { httpPort, raftPort, clientPort, httpUrl, raftAddr });
      this.saved();
    }
    this.spawn(node, { ...node.extraEnv, ...options?.env });
    await this.waitHealthy(node);
  }

  /** Starts a new node that joins through the current members; waits until it is a ready voter unless told not to. */
  async addNode(env: Record<string, string> = {}, options?: { waitUntilVoter?: boolean }): Promise<RaftClusterNode> {
    const id = `n${Math.max(0, ...this.nodes.map((n) => Number(n.id.slice(1)))) + 1}`;
    const ports = { httpPort: await freePort(), raftPort: await freePort(), clientPort: await freePort() };
    const node = this.toNode({ id, ...ports, env });
    // A later node never bootstraps: it joins through the others (RAFT_INITIAL_CLUSTER_STATE=existing).
    this.nodes.push(node);
    this.saved();
    this.spawn(node);
    await this.waitHealthy(node);
    if (options?.waitUntilVoter !== false) await this.waitReady(id);
    return node;
  }

  async status(id: string): Promise<NodeStatus> {
    const res = await fetch(`${this.node(id).httpUrl}/v1/status`, {
      headers: this.tokens ? { authorization: this.tokens.header('read') } : {},
      signal: AbortSignal.timeout(1000),
    });
    if (res.status !== 200) throw new Error(`${id} /v1/status answered ${res.status}`);
    return (await res.json()) as NodeStatus;
  }

  /** The node that leads now (waits up to `timeoutMs`). */
  async leader(timeoutMs = 20_000): Promise<RaftClusterNode> {
    return waitFor('a Raft leader', timeoutMs, async () => {
      const live = this.nodes.filter((n) => this.isRunning(n));
      const statuses = await Promise.all(live.map((n) => this.status(n.id).catch(() => undefined)));
      // With several self-declared leaders (an old one not yet stepped down), trust the highest term.
      const leaders = statuses.filter((s): s is NodeStatus => s?.role === 'leader').sort((a, b) => b.term - a.term);
      return leaders[0] ? this.node(leaders[0].nodeId) : undefined;
    });
  }

  async leaderId(timeoutMs?: number): Promise<string> {
    return (await this.leader(timeoutMs)).id;
  }

  async leaderUrl(timeoutMs?: number): Promise<string> {
    return (await this.leader(timeoutMs)).httpUrl;
  }

  /** Sends `signal` (default SIGKILL) to a node's process group; waits for the exit unless it is SIGSTOP/SIGCONT. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const node = this.node(id);
    const child = node.process;
    if (!child || !this.isRunning(node) || child.pid === undefined) return;
    // 'close', not 'exit': only then has the node's last output left its pipes for the log.
    const exited = new Promise<void>((r) => child.once('close', () => r()));
    process.kill(-child.pid, signal);
    if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await exited;
  }

  /**
   * Waits until a node answers /readyz and its own status lists it as a voter. Every node in `mustRun` (the
   * cluster's start passes all of them: n1 bootstraps only once its peers answer) must keep running, or the wait
   * ends at once naming the one that exited; each probe says what it saw, so a timeout names the last reason.
   */
  async waitReady(id: string, timeoutMs = this.startTimeoutMs, mustRun: RaftClusterNode[] = []): Promise<void> {
    const node = this.node(id);
    await waitFor(
      `${id} to be a ready voter`,
      timeoutMs,
      async () => {
        for (const n of [node, ...mustRun]) this.assertRunning(n);
        const ready = await fetch(`${node.httpUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (ready.status !== 200) throw new Error(`${id} /readyz answered ${ready.status}`);
        const st = await this.status(id);
        if (!st.members.some((m) => m.id === id && m.voter)) throw new Error(`${id} is not yet a voter`);
        return true;
      },
      { onError: (err) => (err instanceof NodeExitedError ? 'throw' : 'retry') },
    );
  }

  /** Waits until every running node reports the same commit index, has applied it and knows a leader. */
  async waitConverged(timeoutMs = 20_000): Promise<void> {
    await waitFor('the Raft nodes to converge', timeoutMs, async () => {
      const live = this.nodes.filter((n) => this.isRunning(n));
      const st = await Promise.all(live.map((n) => this.status(n.id)));
      const commit = st[0]?.commitIndex;
      return st.every((s) => s.commitIndex === commit && s.appliedIndex === commit && s.leaderId) ? true : undefined;
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n)));
    // A node that exited before stop() may still have output in its pipes: detached first, it cannot reach an ended
    // log ("write after end", which failed a CI run's suite after all its tests passed).
    for (const n of this.nodes) {
      n.process?.stdout?.unpipe();
      n.process?.stderr?.unpipe();
    }
    await Promise.all([...this.logs.values()].map((l) => new Promise<void>((r) => l.end(() => r()))));
    this.logs.clear();
    if (this.ownDir && !process.env.RAFT_CLUSTER_KEEP_DATA) rmSync(this.dir, { recursive: true, force: true });
  }

  private async stopNode(n: RaftClusterNode): Promise<void> {
    const child = n.process;
    if (!child || !this.isRunning(n) || child.pid === undefined) return;
    const pid = child.pid;
    // 'close', not 'exit': only then has the node's last output left its pipes for the log.
    const exited = new Promise<void>((r) => child.once('close', () => r()));
    try {
      process.kill(-pid, 'SIGCONT'); // a paused node (chaos) must run to handle SIGTERM
      process.kill(-pid, 'SIGTERM');
    } catch {
      return;
    }
    // A node's shutdown can take a few seconds (leadership handover, then flush and sync).
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    await exited;
    clearTimeout(timer);
  }

  private async waitHealthy(node: RaftClusterNode): Promise<void> {
    await waitFor(`${node.id} /healthz`, this.startTimeoutMs, async () => {
      this.assertRunning(node);
      const res = await fetch(`${node.httpUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200 ? true : undefined;
    });
  }

  private assertRunning(node: RaftClusterNode): void {
    if (!this.isRunning(node)) throw new NodeExitedError(node, this.dir);
  }

  private toNode(a: NodeAddress): RaftClusterNode {
    return {
      id: a.id,
      httpPort: a.httpPort,
      raftPort: a.raftPort,
      clientPort: a.clientPort,
      httpUrl: `http://127.0.0.1:${a.httpPort}`,
      raftAddr: `127.0.0.1:${a.raftPort}`,
      dataDir: join(this.dir, a.id),
      process: undefined,
      ownEnv: a.env ?? {},
      env: {},
      extraEnv: {},
    };
  }

  /** Writes cluster.json (owner-only: it holds the secrets); returns this. */
  private saved(): this {
    const nodes: NodeAddress[] = this.nodes.map((n) => ({
      id: n.id,
      httpPort: n.httpPort,
      raftPort: n.raftPort,
      ...(n.clientPort ? { clientPort: n.clientPort } : {}),
      ...(Object.keys(n.ownEnv).length > 0 ? { env: n.ownEnv } : {}),
    }));
    const saved: SavedCluster = {
      nodes,
      secret: this.secret,
      ...(this.peerSecret ? { peerSecret: this.peerSecret } : {}),
    };
    const file = join(this.dir, 'cluster.json');
    writeFileSync(file, JSON.stringify(saved, null, 2), { mode: 0o600 });
    // writeFileSync's mode applies only when it creates the file; an older cluster.json is tightened too.
    chmodSync(file, 0o600);
    return this;
  }
}

class NodeExitedError extends Error {
  constructor(node: RaftClusterNode, dir: string) {
    super(`raft node ${node.id} exited (see ${join(dir, `${node.id}.log`)})`);
  }
}
