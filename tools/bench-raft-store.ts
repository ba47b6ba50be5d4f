import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import type { OrderStore } from '../raft-node/src/ledger/order-store';
import { percentile } from './bench-raft';

/**
 * `node --import tsx tools/bench-raft-store.ts [--base DIR]`: first the CPU to encode one log entry record
 * (records.ts encodeBatch) for a one-order entry and a 500-order batch entry; then how long the order store's
 * commits hold the event loop,
 * as a node makes them (one small batch per commit, the loop free for 0.3 ms between): p50/p99/max and the total
 * time spent in commits over 1 ms (WAL checkpoints with their fsyncs, when they run inside a commit). With --base,
 * the same for the store of the checkout at DIR, alternating, in the same run. The files live under this checkout
 * (the disk the nodes use), removed afterwards.
 */

const command = defineCommand({
  name: 'node --import tsx tools/bench-raft-store.ts',
  usage: `usage: node --import tsx tools/bench-raft-store.ts [--base DIR] [--commits N] [--rounds N]`,
  options: {
    base: { type: 'string' },
    commits: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '2' },
  },
  schema: z.object({
    base: z.string().optional(),
    commits: z.coerce.number().int().min(100),
    rounds: z.coerce.number().int().min(1),
  }),
});

type StoreClass = new (file: string) => OrderStore;

async function commitTimes(Store: StoreClass, commits: number): Promise<number[]> {
  const dir = mkdtempSync(join(resolve(__dirname, '..'), '.store-bench-'));
  const store = new Store(join(dir, 'ledger.db'));
  const times: number[] = [];
  try {
    for (let i = 1; i <= commits; i++) {
      const order = { orderId: `o-${i}`, account: 'a', symbol: 'AAPL', side: 'BUY' as const, quantity: 1, price: 100 };
      const state = { appliedIndex: i, lastSeq: i, limits: {}, halted: false, haltReason: null };
      const t0 = process.hrtime.bigint();
      store.commit({
        orders: [{ ...order, status: 'FILLED', seq: i }],
        cancels: [],
        positions: [{ account: 'a', symbol: 'AAPL', quantity: i }],
        state,
      } as unknown as Parameters<OrderStore['commit']>[0]);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      await new Promise((r) => setTimeout(r, 0.3));
    }
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

function summary(name: string, times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const slow = times.filter((t) => t > 1000);
  const fmt = (us: number) => `${us.toFixed(0)} µs`;
  return (
    `${name.padEnd(7)} commits=${times.length}  p50 ${fmt(percentile(sorted, 50))}  p99 ${fmt(percentile(sorted, 99))}  ` +
    `max ${fmt(sorted.at(-1)!)}  over 1 ms: ${slow.length} commits, ${(slow.reduce((a, b) => a + b, 0) / 1000).toFixed(0)} ms`
  );
}

type EncodeBatch = (bodies: Array<{ type: number; value: unknown }>, batch: number) => Buffer;

/** µs to encode one entry record carrying `data`, over `records` records a batch, after a warm-up. */
function encodeMicros(encode: EncodeBatch, data: string, records: number): number {
  const bodies = Array.from({ length: records }, (_, i) => ({
    type: 2, // RecordType.Entry
    value: { index: i + 1, term: 3, type: 'normal', data },
  }));
  for (let i = 0; i < 200; i++) encode(bodies, 1);
  const runs = 2_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) encode(bodies, i + 1);
  return Number(process.hrtime.bigint() - t0) / 1000 / runs / records;
}

function recordEncoding(name: string, encode: EncodeBatch): string {
  const order = (i: number) => ({
    orderId: `bench-12345-${i}`,
    account: 'acct-1',
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 1,
    price: 100,
  });
  const one = JSON.stringify({ type: 'order', order: order(1) });
  const batch = JSON.stringify({ type: 'orderBatch', orders: Array.from({ length: 500 }, (_, i) => order(i)) });
  return (
    `${name.padEnd(7)} encode one entry record: 1 order ${encodeMicros(encode, one, 100).toFixed(2)} µs, ` +
    `500-order batch (${(batch.length / 1024).toFixed(0)} KiB) ${encodeMicros(encode, batch, 1).toFixed(1)} µs`
  );
}

async function main({ argv }: CommandContext): Promise<void> {
  const { base, commits, rounds } = command.parse(argv);
  const encoders: Array<[string, EncodeBatch]> = [];
  for (const [name, dir] of [...(base ? [['base', base]] : []), ['this', resolve(__dirname, '..')]] as const) {
    const mod = (await import(resolve(dir, 'raft-node/src/storage/records'))) as { encodeBatch: EncodeBatch };
    encoders.push([name, mod.encodeBatch]);
  }
  for (let round = 0; round < rounds; round++) {
    for (const [name, encode] of encoders) console.log(recordEncoding(name, encode));
  }
  const load = async (dir: string) =>
    ((await import(resolve(dir, 'raft-node/src/storage/sqlite-order-store'))) as { SqliteOrderStore: StoreClass })
      .SqliteOrderStore;
  const stores: Array<[string, StoreClass]> = [['this', await load(resolve(__dirname, '..'))]];
  if (base) stores.unshift(['base', await load(base)]);
  for (let round = 0; round < rounds; round++) {
    for (const [name, Store] of stores) console.log(summary(name, await commitTimes(Store, commits)));
  }
}

if (require.main === module) runCommand(command, main);
