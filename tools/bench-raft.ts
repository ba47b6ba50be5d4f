import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { z } from 'zod';
import { defineCommand, parseEnv, runCommand, type CommandContext } from '../shared/process/cli';
import { MAX_BATCH_ORDERS, type Order } from '../shared/domain/order';
import { createLedgerClient, type ClosableLedgerClient } from '../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../local-cloud';
import { sleep } from '../shared/util/wait';
import { Progress } from './lib/progress';
import { keepAliveHttp, postJson, type KeepAliveHttp } from './lib/http-load';
import { ETCD_INSTALL_HINT, etcdPut, etcdVersion, startEtcdCluster, type EtcdCluster } from './lib/etcd-cluster';

/**
 * `npm run bench:raft`: three real ledger nodes on loopback (fsync on, as always) and, when `etcd` is installed,
 * a three-member etcd cluster beside them (tools/lib/etcd-cluster.ts, the same flags every run). At each client
 * count it drives, interleaved in the same run so both see the same machine load:
 *   - `ledger`       the ledger through its own client library (shared/raft-client), its fastest client;
 *   - `ledger-http`  the ledger's HTTP/JSON API through a plain keep-alive node:http client (tools/lib/http-load);
 *   - `etcd`         etcd's JSON gateway (/v3/kv/put) through that same plain client — on this machine its
 *                    faster client (the issue measured it ahead of the `etcd3` gRPC client at 1 and 256).
 * Closed loop: each of the N clients sends its next write when the last one is answered. Prints writes/s,
 * p50/p99 and the ratio to etcd at each client count, then the time from kill -9 of the leader to the next
 * acknowledged write. A script, not a test (test/integration/raft/process/bench-guard.test.ts is the CI guard).
 */

const command = defineCommand({
  name: 'npm run bench:raft',
  usage: `usage: npm run bench:raft [-- --batch 1,10,100] [--etcd auto|off]
Three Raft nodes (and three etcd members, when installed) on loopback; prints writes/s, latency and the ratio to
etcd per client count, then leader failover times.
  --batch SIZES          orders per ledger request, comma-separated (default 1: the single-order route);
                         etcd and the HTTP rows run at batch 1 only
  --etcd auto|off        compare with etcd when it is installed (default auto)
Environment:
  BENCH_SECONDS          each phase's length in seconds (default 5)
  BENCH_CONCURRENCY      client counts, comma-separated (default 1,16,64,256)
  BENCH_FAILOVERS        kill -9 rounds (default 3)
  BENCH_WARMUP_SECONDS   unmeasured load on every system before the phases (default 3)`,
  options: { batch: { type: 'string', default: '1' }, etcd: { type: 'string', default: 'auto' } },
  schema: z.object({
    batch: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated batch sizes, e.g. 1,10,100')
      .transform((s) => s.split(',').map(Number))
      .refine((sizes) => sizes.every((n) => n >= 1 && n <= MAX_BATCH_ORDERS), `sizes from 1 to ${MAX_BATCH_ORDERS}`),
    etcd: z.enum(['auto', 'off']),
  }),
});

const Env = z.object({
  BENCH_SECONDS: z.coerce.number().positive().default(5),
  BENCH_CONCURRENCY: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated client counts, e.g. 1,16,64,256')
    .default('1,16,64,256')
    .transform((s) => [...new Set(s.split(',').map(Number))]),
  BENCH_FAILOVERS: z.coerce.number().int().min(0).default(3),
  BENCH_WARMUP_SECONDS: z.coerce.number().min(0).default(3),
});

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let orderSeq = 0;
export const nextOrder = (worker: number): Order => ({
  orderId: `bench-${process.pid}-${++orderSeq}`,
  account: `acct-${worker % 32}`,
  symbol: ['AAPL', 'MSFT', 'AMZN', 'NVDA'][worker % 4]!,
  side: orderSeq % 2 ? 'BUY' : 'SELL',
  quantity: 1,
  price: 100,
});

/** One system under load: `send` makes one request (of `ordersPerRequest` writes) for client `worker`. */
export interface Target {
  name: string;
  ordersPerRequest: number;
  send(worker: number): Promise<unknown>;
}

export interface PhaseResult {
  name: string;
  clients: number;
  batch: number;
  writesPerSecond: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  writes: number;
  load: number;
}

/** `concurrency` closed-loop clients send back to back for `seconds` after one warm-up request each. */
export async function measure(target: Target, seconds: number, concurrency: number): Promise<PhaseResult> {
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: concurrency }, (_, w) => target.send(w)));
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await target.send(w);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const writes = latencies.length * target.ordersPerRequest;
  return {
    name: target.name,
    clients: concurrency,
    batch: target.ordersPerRequest,
    writesPerSecond: writes / elapsed,
    requestsPerSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    writes,
    load: loadavg()[0]!,
  };
}

export function formatPhase(r: PhaseResult): string {
  return (
    `${r.name.padEnd(11)} batch=${String(r.batch).padStart(3)}  clients=${String(r.clients).padStart(3)}  ` +
    `writes/s=${r.writesPerSecond.toFixed(0).padStart(6)}  requests/s=${r.requestsPerSecond.toFixed(0).padStart(6)}  ` +
    `p50=${r.p50.toFixed(2)} ms  p99=${r.p99.toFixed(2)} ms  (writes=${r.writes}, load ${r.load.toFixed(1)})`
  );
}

/** The ledger through its client library (one request = `batch` orders). */
export function ledgerTarget(client: ClosableLedgerClient, batch: number): Target {
  return {
    name: 'ledger',
    ordersPerRequest: batch,
    send: (w) =>
      batch === 1
        ? client.applyOrder(nextOrder(w))
        : client.applyOrders(Array.from({ length: batch }, () => nextOrder(w))),
  };
}

/**
 * The ledger's HTTP API at the leader, through the plain client etcd is driven with. After a leader change (a
 * loaded machine may miss heartbeats) a redirect is followed and a 503 retried with the same order (the ledger
 * dedups it), as any HTTP client of the ledger would; the time spent counts in the latency.
 */
function ledgerHttpTarget(http: KeepAliveHttp, leaderUrl: string): Target {
  let leader = leaderUrl;
  return {
    name: 'ledger-http',
    ordersPerRequest: 1,
    send: async (w) => {
      const order = nextOrder(w);
      for (let attempt = 0; ; attempt++) {
        const reply = await postJson(http, `${leader}/v1/orders`, order);
        if (reply.status === 200) return;
        const named = (reply.body as { leader?: unknown } | undefined)?.leader;
        if (attempt >= 12 || !(reply.status === 503 || (reply.status === 307 && typeof named === 'string'))) {
          throw new Error(`POST /v1/orders: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
        }
        if (reply.status === 307) leader = named as string;
        else await sleep(Math.min(1_000, 25 * 2 ** attempt));
      }
    },
  };
}

/** etcd's JSON gateway at its leader; the value is an order's JSON, so both systems store the same bytes. */
function etcdTarget(http: KeepAliveHttp, leaderUrl: string): Target {
  return {
    name: 'etcd',
    ordersPerRequest: 1,
    send: (w) => {
      const order = nextOrder(w);
      return etcdPut(http, leaderUrl, `/orders/${order.orderId}`, JSON.stringify(order));
    },
  };
}

/** "ledger/etcd 1.23×  ledger-http/etcd 0.98×" for one client count. */
function ratioLine(clients: number, results: PhaseResult[]): string | undefined {
  const etcd = results.find((r) => r.name === 'etcd' && r.clients === clients);
  if (!etcd) return undefined;
  const parts = results
    .filter((r) => r.clients === clients && r.name !== 'etcd' && r.batch === 1)
    .map((r) => `${r.name}/etcd ${(r.writesPerSecond / etcd.writesPerSecond).toFixed(2)}×`);
  return `ratio       clients=${String(clients).padStart(3)}  ${parts.join('  ')}`;
}

interface Systems {
  cluster: RaftCluster;
  etcd: EtcdCluster | undefined;
  http: KeepAliveHttp;
  leaderUrl: string;
  members: string[];
}

/** The phases of one client count, in an order rotated per count so no system always runs first. */
function targetsFor(sys: Systems, batch: number, round: number): Array<() => Target & { close?: () => void }> {
  const list: Array<() => Target & { close?: () => void }> = [
    () => {
      const client = createLedgerClient({ members: sys.members });
      return { ...ledgerTarget(client, batch), close: () => client.close() };
    },
  ];
  if (batch === 1) list.push(() => ledgerHttpTarget(sys.http, sys.leaderUrl));
  if (batch === 1 && sys.etcd) list.push(() => etcdTarget(sys.http, sys.etcd!.clientUrls[0]!));
  return list.map((_, i) => list[(i + round) % list.length]!);
}

/**
 * Unmeasured load on every system (16 clients, `seconds` each) before the first phase: without it the first phase
 * of a Node process measures V8 compiling its hot paths (the ledger's 1-client phase, run first, read 551 writes/s
 * cold against 852 warm on a quiet machine); etcd, compiled ahead of time, gets the same load for fairness.
 */
async function warmUp(sys: Systems, seconds: number): Promise<void> {
  if (seconds <= 0) return;
  for (const make of targetsFor(sys, 1, 0)) {
    const target = make();
    const result = await measure(target, seconds, 16);
    target.close?.();
    console.log(`warm-up ${formatPhase(result)}`);
  }
}

async function throughputPhases(sys: Systems, batches: number[], concurrencies: number[], seconds: number) {
  const plan = batches.flatMap((batch) => concurrencies.map((clients, round) => ({ batch, clients, round })));
  const perStep = (b: number) => (b === 1 ? 1 + 1 + (sys.etcd ? 1 : 0) : 1);
  const steps = plan.reduce((n, p) => n + perStep(p.batch), 0);
  const progress = new Progress({ steps, expectedSeconds: steps * (seconds + 1) });
  const results: PhaseResult[] = [];
  let step = 0;
  try {
    for (const { batch, clients, round } of plan) {
      for (const make of targetsFor(sys, batch, round)) {
        const target = make();
        progress.update(++step, `${target.name} batch=${batch} clients=${clients}`);
        const result = await measure(target, seconds, clients);
        target.close?.();
        results.push(result);
        progress.log(formatPhase(result));
      }
      const ratio = batch === 1 ? ratioLine(clients, results) : undefined;
      if (ratio) progress.log(ratio);
    }
  } finally {
    progress.stop();
  }
  return results;
}

/** kill -9 the leader, then time until a write is acknowledged by the new leader; `rounds` times. */
async function failovers(cluster: RaftCluster, rounds: number): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const leader = await cluster.leaderId();
    const client = createLedgerClient({
      members: cluster.httpUrls,
      requestTimeoutMs: 250,
      maxAttempts: 400,
      backoffBaseMs: 5,
      backoffCapMs: 20,
    });
    await client.applyOrder(nextOrder(0));
    const killedAt = performance.now();
    await cluster.kill(leader, 'SIGKILL');
    await client.applyOrder(nextOrder(0));
    const ms = performance.now() - killedAt;
    times.push(ms);
    console.log(`failover: kill -9 of ${leader} → next acknowledged write in ${ms.toFixed(0)} ms`);
    client.close();
    await cluster.restart(leader);
    await cluster.waitConverged(20_000);
  }
  return times;
}

async function main({ argv }: CommandContext): Promise<void> {
  const { batch: batchSizes, etcd: etcdMode } = command.parse(argv);
  const {
    BENCH_SECONDS: seconds,
    BENCH_CONCURRENCY: concurrencies,
    BENCH_FAILOVERS: failoverRounds,
    BENCH_WARMUP_SECONDS: warmUpSeconds,
  } = parseEnv(Env);
  const version = etcdMode === 'auto' ? etcdVersion() : undefined;
  if (etcdMode === 'auto' && !version) console.log(ETCD_INSTALL_HINT);
  const http = keepAliveHttp(Math.max(...concurrencies));
  const cluster = await startRaftCluster({ env: { LOG_LEVEL: 'warn' } });
  let etcd: EtcdCluster | undefined;
  try {
    if (version) etcd = await startEtcdCluster(http);
    const leaderUrl = await cluster.leaderUrl();
    const members = [leaderUrl, ...cluster.httpUrls.filter((u) => u !== leaderUrl)];
    console.log(`ledger up: ${cluster.httpUrls.join(' ')}; leader ${leaderUrl}`);
    if (etcd) console.log(`${version} up: ${etcd.clientUrls.join(' ')}; leader ${etcd.clientUrls[0]}`);
    const sys = { cluster, etcd, http, leaderUrl, members };
    await warmUp(sys, warmUpSeconds);
    const results = await throughputPhases(sys, batchSizes, concurrencies, seconds);
    await etcd?.stop();
    etcd = undefined;
    const failoverMs = await failovers(cluster, failoverRounds);
    console.log('\nsummary');
    for (const r of results) console.log(`  ${formatPhase(r)}`);
    for (const c of concurrencies) {
      const ratio = ratioLine(c, results);
      if (ratio) console.log(`  ${ratio}`);
    }
    if (failoverMs.length > 0) {
      const sorted = [...failoverMs].sort((x, y) => x - y);
      const p50 = percentile(sorted, 50).toFixed(0);
      console.log(`  failover ms: ${failoverMs.map((f) => f.toFixed(0)).join(', ')}`);
      console.log(`  failover over ${sorted.length} kills: p50 ${p50} ms, max ${sorted.at(-1)!.toFixed(0)} ms`);
    }
  } finally {
    http.close();
    await etcd?.stop();
    await cluster.stop();
  }
}

// Stopped by a signal it exits at once: the nodes (and etcd's supervisors) watch this process and stop themselves.
if (require.main === module) runCommand(command, main);
