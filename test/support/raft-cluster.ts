import { spawn, type ChildProcess } from 'node:child_process';
import { buildSync } from 'esbuild';
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../local-cloud/emulators/child-service';
import { STDIN_PARENT_WATCH } from '../../shared/process/parent-watch';
import { TokenSource } from '../../shared/raft-client/auth';
import type { NodeStatus } from '../../shared/raft-client/types';

/**
 * Starts a real Raft ledger cluster: `raft-node` child processes on free loopback ports, all at once, each
 * told the others' URLs (RAFT_PEERS) — n1 is RAFT_INITIAL_CLUSTER_STATE=new and bootstraps once every peer
 * answers, the rest join — and waits until every node is a voter and ready.
 * Each node's JSON log goes to <dataDir>/<id>.log.
 */

export interface RaftClusterNode {
  id: string;
  httpUrl: string;
  raftAddr: string;
  process: ChildProcess;
  dataDir: string;
  /** The env the node was started with (restart reuses it). */
  env: Record<string, string>;
}

export interface RaftCluster {
  httpUrls: string[];
  nodes: RaftClusterNode[];
  dataDir: string;
  /** An admin-scope auth header for the nodes, renewed as it ages (undefined when the cluster runs open). */
  readonly authorization: string | undefined;
  /** Resolves the HTTP URL of the node that currently leads (waits up to `timeoutMs`). */
  leaderUrl(timeoutMs?: number): Promise<string>;
  leaderId(timeoutMs?: number): Promise<string>;
  node(id: string): RaftClusterNode;
  /** Sends `signal` (default SIGKILL); waits for the exit unless it is SIGSTOP/SIGCONT. */
  kill(id: string, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped node again with the same data dir and env; waits for /healthz. */
  restart(id: string): Promise<void>;
  /**
   * kill -9 a node, delete its data dir (a lost volume) and start it again with the same env, at new ports
   * when `newAddress` (a replaced task with a new IP); waits for /healthz.
   */
  wipeAndRestart(id: string, options?: { newAddress?: boolean }): Promise<void>;
  /** Starts a new node that joins through the current members; waits until it is a ready voter unless told not to. */
  addNode(env?: Record<string, string>, options?: { waitUntilVoter?: boolean }): Promise<RaftClusterNode>;
  /** GET /v1/status of one node. */
  status(id: string): Promise<NodeStatus>;
  /** Waits until every running node reports the same commit index and has applied it. */
  waitConverged(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartRaftClusterOptions {
  size?: number;
  /** Parent folder for the nodes' data dirs and logs; a fresh temp dir (removed by stop() unless RAFT_CLUSTER_KEEP_DATA is set) when absent. */
  dataDir?: string;
  /** Extra env for every node (e.g. RAFT_AUTH_SECRET, RAFT_SNAPSHOT_THRESHOLD, CHAOS_*). */
  env?: Record<string, string>;
  /** Per-node env overrides by node id. */
  nodeEnv?: Record<string, Record<string, string>>;
  startTimeoutMs?: number;
  /** Extra Node.js flags for every node process (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

const repoRoot = resolve(__dirname, '..', '..');
const mainTs = join(repoRoot, 'raft-node', 'src', 'main.ts');

let bundlePath: string | undefined;
/**
 * Bundles raft-node once per test process with esbuild (as the Dockerfile does): a node then starts in a
 * fraction of the time `tsx` needs to transpile it module by module.
 */
function raftNodeBundle(): string {
  if (bundlePath) return bundlePath;
  const dir = mkdtempSync(join(tmpdir(), 'raft-node-bundle-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'raft-node.js');
  buildSync({
    entryPoints: [mainTs],
    bundle: true,
    platform: 'node',
    target: 'node20',
    outfile,
    sourcemap: true,
    logLevel: 'error',
  });
  bundlePath = outfile;
  return outfile;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(
  url: string,
  authorization?: string,
  timeoutMs = 1_000,
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, {
    headers: authorization ? { authorization } : {},
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${lastError}`);
    await sleep(50);
  }
}

export async function startRaftCluster(opts: StartRaftClusterOptions = {}): Promise<RaftCluster> {
  const size = opts.size ?? 3;
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'raft-cluster-'));
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const secret = opts.env?.RAFT_AUTH_SECRET;
  const tokens = secret ? new TokenSource({ secret }) : undefined;
  const nodes: RaftClusterNode[] = [];
  const logs = new Map<string, WriteStream>();
  let nextId = 1;

  const spawnNode = (node: RaftClusterNode): void => {
    let log = logs.get(node.id);
    if (!log) {
      log = createWriteStream(join(dataDir, `${node.id}.log`), { flags: 'a' });
      logs.set(node.id, log);
    }
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--enable-source-maps', raftNodeBundle()], {
      cwd: repoRoot,
      // A test run that dies (even by SIGKILL) takes its nodes with it: shared/process/parent-watch.ts.
      env: { ...process.env, ...node.env, ...STDIN_PARENT_WATCH.env },
      stdio: [STDIN_PARENT_WATCH.stdin, 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    node.process = child;
  };

  const isRunning = (n: RaftClusterNode) => n.process.exitCode === null && n.process.signalCode === null;

  const ports = async () => ({ httpPort: await freePort(), raftPort: await freePort() });
  const addressEnv = (p: { httpPort: number; raftPort: number }) => ({
    RAFT_BIND_ADDR: `127.0.0.1:${p.raftPort}`,
    PORT_HTTP: String(p.httpPort),
  });
  const newNode = async (
    p: { httpPort: number; raftPort: number },
    entry: { state: 'new' | 'existing'; peers: string[] },
    extraEnv: Record<string, string> = {},
  ) => {
    const id = `n${nextId++}`;
    const { httpPort, raftPort } = p;
    const env: Record<string, string> = {
      RAFT_NODE_ID: id,
      ...addressEnv(p),
      HTTP_BIND_HOST: '127.0.0.1',
      RAFT_DATA_DIR: join(dataDir, id),
      LOG_LEVEL: 'info',
      RAFT_INITIAL_CLUSTER_STATE: entry.state,
      RAFT_PEERS: entry.peers.join(',') || 'none',
      ...opts.env,
      ...opts.nodeEnv?.[id],
      ...extraEnv,
    };
    const node: RaftClusterNode = {
      id,
      httpUrl: `http://127.0.0.1:${httpPort}`,
      raftAddr: `127.0.0.1:${raftPort}`,
      process: undefined as unknown as ChildProcess,
      dataDir: env.RAFT_DATA_DIR!,
      env,
    };
    spawnNode(node);
    nodes.push(node);
    return node;
  };

  const status = async (id: string): Promise<NodeStatus> => {
    const node = nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    const r = await getJson<NodeStatus>(`${node.httpUrl}/v1/status`, tokens?.header('read'));
    if (r.status !== 200) throw new Error(`${id} /v1/status answered ${r.status}`);
    return r.body;
  };

  const waitHealthy = (node: RaftClusterNode) =>
    waitFor(`${node.id} /healthz`, startTimeoutMs, async () => {
      if (!isRunning(node)) throw new Error(`${node.id} exited (see ${join(dataDir, node.id + '.log')})`);
      const r = await getJson(`${node.httpUrl}/healthz`);
      return r.status === 200 ? true : undefined;
    });

  const waitReadyVoter = (node: RaftClusterNode) =>
    waitFor(`${node.id} to be a ready voter`, startTimeoutMs, async () => {
      if (!isRunning(node)) throw new Error(`${node.id} exited (see ${join(dataDir, node.id + '.log')})`);
      const ready = await getJson(`${node.httpUrl}/readyz`);
      if (ready.status !== 200) return undefined;
      const st = await status(node.id);
      return st.members.some((m) => m.id === node.id && m.voter) ? true : undefined;
    });

  const leaderId = (timeoutMs = 20_000) =>
    waitFor('a leader', timeoutMs, async () => {
      const live = nodes.filter(isRunning);
      const statuses = await Promise.all(live.map((n) => status(n.id).catch(() => undefined)));
      const leaders = statuses.filter((s) => s?.role === 'leader');
      if (leaders.length === 0) return undefined;
      // With several self-declared leaders (an old one not yet stepped down), trust the highest term.
      return leaders.sort((a, b) => b!.term - a!.term)[0]!.nodeId;
    });

  const cluster: RaftCluster = {
    get httpUrls() {
      return nodes.map((n) => n.httpUrl);
    },
    nodes,
    dataDir,
    get authorization() {
      return tokens?.header('admin');
    },
    leaderId,
    leaderUrl: async (timeoutMs) => cluster.node(await leaderId(timeoutMs)).httpUrl,
    node: (id) => {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    },
    status,
    kill: async (id, signal = 'SIGKILL') => {
      const node = cluster.node(id);
      if (!isRunning(node)) return;
      const exited = new Promise<void>((r) => node.process.once('exit', () => r()));
      node.process.kill(signal);
      if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await exited;
    },
    restart: async (id) => {
      const node = cluster.node(id);
      if (isRunning(node)) throw new Error(`${id} is still running`);
      spawnNode(node);
      await waitHealthy(node);
    },
    wipeAndRestart: async (id, options) => {
      const node = cluster.node(id);
      await cluster.kill(id, 'SIGKILL');
      rmSync(node.dataDir, { recursive: true, force: true });
      if (options?.newAddress) {
        const p = await ports();
        Object.assign(node.env, addressEnv(p));
        node.httpUrl = `http://127.0.0.1:${p.httpPort}`;
        node.raftAddr = `127.0.0.1:${p.raftPort}`;
      }
      spawnNode(node);
      await waitHealthy(node);
    },
    addNode: async (env, options) => {
      const peers = nodes.filter(isRunning).map((n) => n.httpUrl);
      const node = await newNode(await ports(), { state: 'existing', peers }, env);
      await waitHealthy(node);
      if (options?.waitUntilVoter !== false) await waitReadyVoter(node);
      return node;
    },
    waitConverged: async (timeoutMs = 15_000) => {
      await waitFor('the cluster to converge', timeoutMs, async () => {
        const live = nodes.filter(isRunning);
        const st = await Promise.all(live.map((n) => status(n.id)));
        const commit = st[0]!.commitIndex;
        return st.every((s) => s.commitIndex === commit && s.appliedIndex === commit && s.leaderId) ? true : undefined;
      });
    },
    stop: async () => {
      await Promise.all(
        nodes.filter(isRunning).map(async (n) => {
          const exited = new Promise<void>((r) => n.process.once('exit', () => r()));
          n.process.kill('SIGCONT');
          n.process.kill('SIGTERM');
          // A node's shutdown can take a few seconds (leadership handover, then flush and sync).
          const t = setTimeout(() => n.process.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        }),
      );
      await Promise.all([...logs.values()].map((l) => new Promise<void>((r) => l.end(() => r()))));
      if (ownDir && !process.env.RAFT_CLUSTER_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
    },
  };

  try {
    // All processes start at once (startup is mostly module loading): n1 bootstraps once every peer answers
    // as uninitialized, the others join through whichever peer leads.
    const planned: { httpPort: number; raftPort: number }[] = [];
    for (let i = 0; i < size; i++) planned.push(await ports());
    const urls = planned.map((p) => `http://127.0.0.1:${p.httpPort}`);
    for (const [i, p] of planned.entries()) {
      await newNode(p, { state: i === 0 ? 'new' : 'existing', peers: urls.filter((_, j) => j !== i) });
    }
    for (const n of nodes) await waitReadyVoter(n);
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    throw err;
  }
  return cluster;
}
