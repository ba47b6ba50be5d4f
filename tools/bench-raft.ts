import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { defineCommand, parseEnv, runCommand, type CommandContext } from '../shared/process/cli';
import { MAX_BATCH_ORDERS, type Order } from '../shared/domain/order';
import { createLedgerClient, type ClosableLedgerClient } from '../shared/raft-client/client';
import { startRaftCluster } from '../local-cloud';

/**
 * `npm run bench:raft`: three real nodes on loopback (fsync on, as always), then orders/s and p50/p99
 * latency at 1, 16 and 256 concurrent clients, and the time from kill -9 of the leader to the next
 * acknowledged write. A script, not a test: it prints figures and asserts nothing.
 * BENCH_SECONDS (default 5) sets each phase's length; see the usage below for the rest.
 *
 * `--batch 1,10,100` measures each concurrency once per batch size: 1 is the single-order route (POST /v1/orders),
 * N > 1 sends batches of N orders (POST /v1/orders/batch, one log entry each); orders/s counts orders either way,
 * and the latencies are per request.
 */

const command = defineCommand({
  name: 'npm run bench:raft',
  usage: `usage: npm run bench:raft [-- --batch 1,10,100]
Three Raft nodes on loopback; prints orders/s and latency per client count, then leader failover times.
  --batch SIZES          orders per request, comma-separated (default 1: the single-order route)
Environment:
  BENCH_SECONDS          each phase's length in seconds (default 5)
  BENCH_CONCURRENCY      client counts, comma-separated (default 1,16,256)
  BENCH_FAILOVERS        kill -9 rounds (default 3)`,
  options: { batch: { type: 'string', default: '1' } },
  schema: z.object({
    batch: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated batch sizes, e.g. 1,10,100')
      .transform((s) => s.split(',').map(Number))
      .refine((sizes) => sizes.every((n) => n >= 1 && n <= MAX_BATCH_ORDERS), `sizes from 1 to ${MAX_BATCH_ORDERS}`),
  }),
});

const Env = z.object({
  BENCH_SECONDS: z.coerce.number().positive().default(5),
  BENCH_CONCURRENCY: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated client counts, e.g. 1,16,256')
    .default('1,16,256')
    .transform((s) => s.split(',').map(Number)),
  BENCH_FAILOVERS: z.coerce.number().int().min(0).default(3),
});

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

let orderSeq = 0;
const nextOrder = (worker: number): Order => ({
  orderId: `bench-${process.pid}-${++orderSeq}`,
  account: `acct-${worker % 32}`,
  symbol: ['AAPL', 'MSFT', 'AMZN', 'NVDA'][worker % 4]!,
  side: orderSeq % 2 ? 'BUY' : 'SELL',
  quantity: 1,
  price: 100,
});

/** One request's worth of orders: a single order (batch 1) or a batch of `batch` orders. */
async function send(client: ClosableLedgerClient, worker: number, batch: number): Promise<void> {
  if (batch === 1) await client.applyOrder(nextOrder(worker));
  else await client.applyOrders(Array.from({ length: batch }, () => nextOrder(worker)));
}

/** `concurrency` workers send back to back for `seconds`; returns the result line. */
async function throughput(client: ClosableLedgerClient, seconds: number, concurrency: number, batch: number) {
  const latencies: number[] = [];
  // Warm up connections and the JIT, then measure.
  await Promise.all(Array.from({ length: concurrency }, (_, w) => send(client, w, batch)));
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await send(client, w, batch);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const orders = latencies.length * batch;
  return (
    `batch=${String(batch).padStart(3)}  clients=${String(concurrency).padStart(3)}  ` +
    `orders/s=${(orders / elapsed).toFixed(0).padStart(6)}  requests/s=${(latencies.length / elapsed).toFixed(0).padStart(6)}  ` +
    `p50=${percentile(latencies, 50).toFixed(2)} ms  p99=${percentile(latencies, 99).toFixed(2)} ms  (orders=${orders})`
  );
}

async function main({ argv }: CommandContext): Promise<void> {
  const { batch: batchSizes } = command.parse(argv);
  const { BENCH_SECONDS: seconds, BENCH_CONCURRENCY: concurrencies, BENCH_FAILOVERS: failoverRounds } = parseEnv(Env);
  const cluster = await startRaftCluster({ env: { LOG_LEVEL: 'warn' } });
  try {
    const leaderUrl = await cluster.leaderUrl();
    const members = [leaderUrl, ...cluster.httpUrls.filter((u) => u !== leaderUrl)];
    console.log(`cluster up: ${cluster.httpUrls.join(' ')}; leader ${leaderUrl}`);
    const rows: string[] = [];
    for (const batch of batchSizes) {
      for (const concurrency of concurrencies) {
        const client = createLedgerClient({ members });
        const row = await throughput(client, seconds, concurrency, batch);
        console.log(row);
        rows.push(row);
        client.close();
      }
    }

    // Failover: kill -9 the leader, then time until a write is acknowledged by the new leader.
    const failovers: number[] = [];
    for (let round = 0; round < failoverRounds; round++) {
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
      failovers.push(ms);
      console.log(`failover: kill -9 of ${leader} → next acknowledged write in ${ms.toFixed(0)} ms`);
      client.close();
      await cluster.restart(leader);
      await cluster.waitConverged(20_000);
    }
    console.log('\nsummary');
    for (const r of rows) console.log(`  ${r}`);
    if (failovers.length > 0) console.log(`  failover ms: ${failovers.map((f) => f.toFixed(0)).join(', ')}`);
  } finally {
    await cluster.stop();
  }
}

// Stopped by a signal it exits at once: the nodes watch this process and stop themselves.
if (require.main === module) runCommand(command, main);
