import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { MAX_BATCH_ORDERS } from '../shared/domain/order';
import { startRaftCluster, type RaftCluster, type RaftClusterNode } from '../local-cloud';
import { createLedgerClient } from '../shared/raft-client/client';
import { DEFAULT_MAX_IN_FLIGHT, formatSummary, pacedLoad, splitByWindows } from './lib/paced-load';

/**
 * `npm run soak:raft`: drives N orders (default 10 M) into three real nodes on loopback and reports what issue 12
 * asks of the ledger at that size: the leader's RSS over time, the longest request while snapshots are taken (an upper
 * bound on any apply stall: it includes queueing), the time a wiped follower takes to catch up by snapshot, and the
 * time a whole-cluster restart from disk takes. A script, not a test: it prints figures and asserts nothing.
 */

const command = defineCommand({
  name: 'npm run soak:raft',
  usage: `usage: npm run soak:raft [-- --orders N] [--clients C] [--snapshot-threshold E] [--dir DIR] [--catch-up-only]
       [--paced-rate R [--paced-seconds S] [--paced-batch B]] [--paced-only]
Three Raft nodes on loopback; places N orders in batches of ${MAX_BATCH_ORDERS}, printing progress and leader RSS,
then (with --paced-rate) drives a steady open-loop load and compares latencies during snapshots with the rest,
then wipes a follower (catch-up time) and restarts the cluster (restart time).
  --orders N              orders to place (default 10000000)
  --clients C             concurrent batch clients (default 4)
  --snapshot-threshold E  log entries between snapshots (RAFT_SNAPSHOT_THRESHOLD; default 1000, i.e. 500 k orders)
  --dir DIR               data dir to use and keep (default: a temp dir, removed at the end)
  --catch-up-only         with --dir of an earlier run: place nothing, only wipe a follower and time its catch-up
                          (repeatable on the same data: an A/B of the transfer under the same snapshot)
  --paced-rate R          after the fill, R orders/s on a fixed schedule through the client library (binary
                          protocol), each request's latency counted from when it was due (default 0: none)
  --paced-seconds S       how long the paced load runs (default 120)
  --paced-batch B         orders per paced request (default 10)
  --paced-only            with --dir of an earlier run: place nothing, only run the paced load`,
  options: {
    orders: { type: 'string', default: '10000000' },
    clients: { type: 'string', default: '4' },
    'snapshot-threshold': { type: 'string', default: '1000' },
    dir: { type: 'string' },
    'catch-up-only': { type: 'boolean', default: false },
    'paced-rate': { type: 'string', default: '0' },
    'paced-seconds': { type: 'string', default: '120' },
    'paced-batch': { type: 'string', default: '10' },
    'paced-only': { type: 'boolean', default: false },
  },
  schema: z.object({
    orders: z.coerce.number().int().positive(),
    clients: z.coerce.number().int().min(1).max(256),
    'snapshot-threshold': z.coerce.number().int().positive(),
    dir: z.string().optional(),
    'catch-up-only': z.boolean(),
    'paced-rate': z.coerce.number().int().min(0).max(100_000),
    'paced-seconds': z.coerce.number().positive(),
    'paced-batch': z.coerce.number().int().min(1).max(MAX_BATCH_ORDERS),
    'paced-only': z.boolean(),
  }),
});

const PROGRESS_MS = 5_000;

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

function storeMiB(dataDir: string): number {
  const size = (f: string) => {
    try {
      return statSync(join(dataDir, f)).size;
    } catch {
      return 0;
    }
  };
  return Math.round((size('ledger.db') + size('ledger.db-wal')) / 2 ** 20);
}

function batch(first: number, count: number) {
  return Array.from({ length: count }, (_, k) => ({
    orderId: `soak-${first + k}`,
    account: `acct-${(first + k) % 1000}`,
    symbol: `SYM${(first + k) % 50}`,
    side: (first + k) % 2 ? 'BUY' : 'SELL',
    quantity: 1,
    price: 10,
  }));
}

/**
 * Sends one batch to the leader until it is answered: a lost leadership (503, 307, a dropped connection) sends the same
 * batch again to the new leader, which the ledger answers exactly once (a repeat is a DUPLICATE of the first result).
 */
async function placeBatch(cluster: RaftCluster, state: { leader: RaftClusterNode }, first: number, count: number) {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${state.leader.httpUrl}/v1/orders/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orders: batch(first, count) }),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer();
      if (res.status === 200) return;
      if (res.status !== 503 && res.status !== 307) throw new Error(`batch at ${first} answered ${res.status}`);
    } catch (error) {
      if (attempt >= 20 || !(error instanceof TypeError || (error as Error).name === 'TimeoutError')) throw error;
    }
    if (attempt >= 20) throw new Error(`batch at ${first}: no leader took it after ${attempt} attempts`);
    await new Promise((r) => setTimeout(r, 200));
    const leader = await cluster.leader(60_000);
    if (leader.id !== state.leader.id) console.log(`[soak] leader is now ${leader.id}`);
    state.leader = leader;
  }
}

/** Places `total` orders with `clients` concurrent batch clients; returns the longest request (ms). */
async function drive(cluster: RaftCluster, total: number, clients: number, signal: AbortSignal): Promise<number> {
  const state = { leader: await cluster.leader() };
  let next = 0;
  let done = 0;
  let windowMax = 0;
  let overallMax = 0;
  const started = performance.now();
  const progress = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `[soak] ${done} orders (${Math.round(done / seconds)}/s), leader RSS ${rssMiB(state.leader.process?.pid)} MiB, ` +
        `store ${storeMiB(state.leader.dataDir)} MiB, longest request in the last ${PROGRESS_MS / 1000} s ${windowMax.toFixed(0)} ms`,
    );
    windowMax = 0;
  }, PROGRESS_MS);
  const client = async () => {
    while (next < total && !signal.aborted) {
      const first = next;
      const count = Math.min(MAX_BATCH_ORDERS, total - first);
      next += count;
      const t0 = performance.now();
      await placeBatch(cluster, state, first, count);
      const ms = performance.now() - t0;
      windowMax = Math.max(windowMax, ms);
      overallMax = Math.max(overallMax, ms);
      done += count;
    }
  };
  try {
    await Promise.all(Array.from({ length: clients }, client));
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`[soak] placed ${done} orders in ${seconds.toFixed(0)} s (${Math.round(done / seconds)}/s)`);
  return overallMax;
}

/** One snapshot a node took, as it logged it ('compacted the log'). */
interface Compacted {
  node: string;
  /** Epoch ms of the log line: when the snapshot was done. */
  at: number;
  maxLoopDelayMs: number | null;
  maxLoopDelayBetweenMs?: number | null;
  saveMs: number;
  tookMs: number;
}

function compactions(dir: string, ids: string[], since = 0): Compacted[] {
  return ids.flatMap((node) =>
    readFileSync(join(dir, `${node}.log`), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"compacted the log"'))
      .map((l) => JSON.parse(l) as Omit<Compacted, 'node' | 'at'> & { timestamp: string })
      .map(({ timestamp, ...rest }) => ({ ...rest, node, at: Date.parse(timestamp) }))
      .filter((c) => c.at >= since),
  );
}

/** What the nodes logged about the snapshots they took. */
function snapshotStalls(lines: Compacted[]) {
  const max = (f: (l: Compacted) => number) => Math.max(0, ...lines.map(f));
  const median = (f: (l: Compacted) => number) => {
    const sorted = lines.map(f).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  };
  const during = (l: Compacted) => l.maxLoopDelayMs ?? 0;
  const between = (l: Compacted) => l.maxLoopDelayBetweenMs ?? 0;
  return {
    count: lines.length,
    maxLoopDelayMs: max(during),
    medianLoopDelayMs: median(during),
    maxBetweenMs: max(between),
    medianBetweenMs: median(between),
    maxSaveMs: max((l) => l.saveMs),
    medianSaveMs: median((l) => l.saveMs),
    maxTookMs: max((l) => l.tookMs),
  };
}

/**
 * A steady open-loop load on the cluster (tools/lib/paced-load.ts), then its latencies split into the requests that
 * overlapped a snapshot on any node and the rest, with the nodes' event-loop delays while those snapshots were taken.
 */
async function paced(cluster: RaftCluster, dir: string, opts: { rate: number; seconds: number; batch: number }) {
  const client = createLedgerClient({ members: cluster.httpUrls });
  const log = (line: string) => console.log(`[soak] paced: ${line}`);
  log(`${opts.rate} orders/s in requests of ${opts.batch} for ${opts.seconds} s`);
  try {
    const result = await pacedLoad({ ...opts, send: (orders) => client.applyOrders(orders), log });
    const snapshots = compactions(
      dir,
      cluster.nodes.map((n) => n.id),
      result.startedAt,
    ).filter((c) => c.at - c.tookMs <= result.endedAt);
    const split = splitByWindows(
      result.samples,
      snapshots.map((c) => ({ from: c.at - c.tookMs, to: c.at })),
    );
    const stalls = snapshotStalls(snapshots);
    log(
      `${result.samples.length} requests answered, ${result.failed} failed, ${result.skipped} not sent (${DEFAULT_MAX_IN_FLIGHT} in flight); ` +
        `${stalls.count} snapshots on the three nodes (longest ${stalls.maxTookMs} ms); latency from due while a ` +
        `snapshot was being taken: ${formatSummary(split.during)}; otherwise: ${formatSummary(split.outside)}; ` +
        `longest event-loop delay while a snapshot was taken ${stalls.maxLoopDelayMs} ms (median ` +
        `${stalls.medianLoopDelayMs} ms), between two ${stalls.maxBetweenMs} ms; synchronous save at most ` +
        `${stalls.maxSaveMs} ms`,
    );
  } finally {
    client.close();
  }
}

/** The leader's last snapshot transfer to `to`, from its log: bytes and seconds from 'sending snapshot' to 'snapshot sent'. */
function lastTransfer(dir: string, leader: string, to: string): { bytes: number; seconds: number } | null {
  let started: number | null = null;
  let done: { bytes: number; seconds: number } | null = null;
  for (const line of readFileSync(join(dir, `${leader}.log`), 'utf8').split('\n')) {
    if (!line.includes('snapshot')) continue;
    const l = JSON.parse(line) as { message: string; timestamp: string; to?: string; bytes?: number };
    if (l.to !== to) continue;
    if (l.message === 'sending snapshot') started = Date.parse(l.timestamp);
    if (l.message === 'snapshot sent' && started !== null) {
      done = { bytes: l.bytes ?? 0, seconds: (Date.parse(l.timestamp) - started) / 1000 };
    }
  }
  return done;
}

/** The leader's last copy of its store made for followers ('copied the store for followers'): seconds and loop delay. */
function lastStoreCopy(dir: string, leader: string): { seconds: number; maxLoopDelayMs: number } | null {
  const lines = readFileSync(join(dir, `${leader}.log`), 'utf8').split('\n');
  const last = lines.filter((l) => l.includes('"copied the store for followers"')).at(-1);
  if (!last) return null;
  const l = JSON.parse(last) as { tookMs: number; maxLoopDelayMs: number | null };
  return { seconds: l.tookMs / 1000, maxLoopDelayMs: l.maxLoopDelayMs ?? 0 };
}

/** Wipes a follower and times it until it is a ready, converged member again (it catches up by snapshot). */
async function catchUp(cluster: RaftCluster, dir: string): Promise<string> {
  const leader = await cluster.leader();
  const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
  const t0 = performance.now();
  await cluster.wipeAndRestart(follower.id);
  await cluster.waitReady(follower.id, 3_600_000);
  await cluster.waitConverged(3_600_000);
  const seconds = (performance.now() - t0) / 1000;
  const sent = lastTransfer(dir, leader.id, follower.id);
  const copy = lastStoreCopy(dir, leader.id);
  const copied = copy
    ? `; the leader copied its store for it in ${copy.seconds.toFixed(1)} s (longest event-loop delay meanwhile ` +
      `${copy.maxLoopDelayMs} ms)`
    : '';
  const transfer = sent
    ? ` (its last snapshot, ${(sent.bytes / 2 ** 20).toFixed(0)} MiB, sent in ${sent.seconds.toFixed(1)} s${copied})`
    : '';
  return `wiped follower caught up by snapshot in ${seconds.toFixed(1)} s${transfer}`;
}

async function main({ argv, signal }: CommandContext): Promise<void> {
  const opts = command.parse(argv);
  // Info level: each node logs every snapshot it takes ('compacted the log', with its longest event-loop delay).
  const env = { RAFT_SNAPSHOT_THRESHOLD: String(opts['snapshot-threshold']), LOG_LEVEL: 'info' };
  if (opts['paced-only']) {
    if (!opts.dir || opts['paced-rate'] === 0)
      throw new Error('--paced-only needs --dir of an earlier run and --paced-rate');
    const cluster = await startRaftCluster({ dir: opts.dir, env });
    try {
      await cluster.waitConverged(3_600_000);
      await paced(cluster, opts.dir, {
        rate: opts['paced-rate'],
        seconds: opts['paced-seconds'],
        batch: opts['paced-batch'],
      });
    } finally {
      await cluster.stop();
    }
    return;
  }
  if (opts['catch-up-only']) {
    if (!opts.dir) throw new Error('--catch-up-only needs --dir of an earlier run');
    const cluster = await startRaftCluster({ dir: opts.dir, env });
    try {
      await cluster.waitConverged(3_600_000);
      console.log(`[soak] ${await catchUp(cluster, opts.dir)}`);
    } finally {
      await cluster.stop();
    }
    return;
  }
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'raft-soak-'));
  console.log(`[soak] data in ${dir}`);
  let cluster = await startRaftCluster({ dir, env });
  try {
    const longest = await drive(cluster, opts.orders, opts.clients, signal);
    const snapshots = snapshotStalls(
      compactions(
        dir,
        cluster.nodes.map((n) => n.id),
      ),
    );
    const pacedOpts = { rate: opts['paced-rate'], seconds: opts['paced-seconds'], batch: opts['paced-batch'] };
    if (pacedOpts.rate > 0) await paced(cluster, dir, pacedOpts);
    const leader = await cluster.leader();
    const rss = rssMiB(leader.process?.pid);
    const caughtUp = await catchUp(cluster, dir);
    await cluster.stop();
    const t0 = performance.now();
    cluster = await startRaftCluster({ dir, env });
    await cluster.waitConverged(3_600_000);
    const restart = (performance.now() - t0) / 1000;
    console.log(
      `[soak] ${opts.orders} orders: leader RSS at the end ${rss} MiB; longest batch request ${longest.toFixed(0)} ms ` +
        `(upper bound on an apply stall, snapshots every ${opts['snapshot-threshold']} entries); ` +
        `${snapshots.count} snapshots taken; longest event-loop delay while one was taken ${snapshots.maxLoopDelayMs} ms ` +
        `(median of the snapshots ${snapshots.medianLoopDelayMs} ms), between two snapshots ${snapshots.maxBetweenMs} ms ` +
        `(median ${snapshots.medianBetweenMs} ms); synchronous save at most ${snapshots.maxSaveMs} ms ` +
        `(median ${snapshots.medianSaveMs} ms), a snapshot took at most ${snapshots.maxTookMs} ms; ${caughtUp}; ` +
        `cluster restart from disk to converged in ${restart.toFixed(1)} s`,
    );
  } finally {
    await cluster.stop();
    if (!opts.dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runCommand(command, main, { stopGraceMs: 10_000 });
