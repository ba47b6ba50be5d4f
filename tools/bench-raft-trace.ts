import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineCommand, parseEnv, runCommand, type CommandContext } from '../shared/process/cli';
import { createLedgerClient } from '../shared/raft-client/client';
import { startRaftCluster } from '../local-cloud';
import { nextOrder, percentile } from './bench-raft';

/**
 * `npm run bench:raft:trace`: where one write's time goes, end to end. Starts three ledger nodes with RAFT_TRACE_FILE
 * (raft-node/src/trace.ts), sends writes one at a time through the client library for TRACE_SECONDS, then merges
 * every process's stamps (one monotonic clock) and prints, per event in the order it happens, the median time
 * since the client sent the write. Events are named by who recorded them (C client, L leader, F1/F2 followers)
 * and numbered when they recur within one write (L:ready#2 is the leader's second Ready of that write).
 */

const command = defineCommand({
  name: 'npm run bench:raft:trace',
  usage: `usage: npm run bench:raft:trace
One client, one write at a time, against three traced ledger nodes; prints the writes at the median, the 25th
and the 99th percentile, then the median time of every event.
Environment:
  TRACE_SECONDS   how long to send (default 5)`,
  options: {},
  schema: z.object({}),
});

const Env = z.object({ TRACE_SECONDS: z.coerce.number().positive().default(5) });

interface Stamp {
  t: bigint;
  who: string;
  event: string;
}

function readStamps(dir: string, clientPid: number): Stamp[] {
  const files = readdirSync(dir);
  const perFile = files.map((f) => {
    const pid = Number(f.split('.').pop());
    const stamps = readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const space = line.indexOf(' ');
        return { t: BigInt(line.slice(0, space)), event: line.slice(space + 1) };
      });
    return { pid, stamps };
  });
  // The leader is the node that received client requests; the others are followers.
  let follower = 0;
  return perFile
    .flatMap(({ pid, stamps }) => {
      const who = pid === clientPid ? 'C' : stamps.some((s) => s.event === 'api.req') ? 'L' : `F${++follower}`;
      return stamps.map((s) => ({ ...s, who }));
    })
    .sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
}

/** Each write's events (client send → client done) as offsets in µs. */
function writesOf(stamps: Stamp[]): Array<Array<{ key: string; us: number }>> {
  const writes: Array<Array<{ key: string; us: number }>> = [];
  let current: Array<{ key: string; us: number }> | null = null;
  let start = 0n;
  for (const s of stamps) {
    if (s.who === 'C' && s.event === 'send') {
      start = s.t;
      current = [];
    }
    if (!current) continue;
    current.push({ key: `${s.who}:${s.event}`, us: Number(s.t - start) / 1000 });
    if (s.who === 'C' && s.event === 'done') {
      writes.push(current);
      current = null;
    }
  }
  return writes;
}

/** For each write (client send → client done): the offset of every event in it, in µs. */
function timeline(stamps: Stamp[]): Map<string, number[]> {
  const offsets = new Map<string, number[]>();
  let start: bigint | null = null;
  let seen = new Map<string, number>();
  for (const s of stamps) {
    if (s.who === 'C' && s.event === 'send') {
      start = s.t;
      seen = new Map();
    }
    if (start === null) continue;
    const base = `${s.who}:${s.event}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const key = n === 1 ? base : `${base}#${n}`;
    const list = offsets.get(key) ?? [];
    list.push(Number(s.t - start) / 1000);
    offsets.set(key, list);
    if (s.who === 'C' && s.event === 'done') start = null;
  }
  return offsets;
}

async function main({ argv }: CommandContext): Promise<void> {
  command.parse(argv);
  const { TRACE_SECONDS: seconds } = parseEnv(Env);
  const dir = mkdtempSync(join(tmpdir(), 'raft-trace-'));
  process.env.RAFT_TRACE_FILE = join(dir, 'trace');
  // Imported after the variable is set: the module reads it once.
  const { flushTrace, trace } = await import('../raft-node/src/trace');
  const cluster = await startRaftCluster({ env: { LOG_LEVEL: 'warn', RAFT_TRACE_FILE: join(dir, 'trace') } });
  let writes = 0;
  try {
    const leaderUrl = await cluster.leaderUrl();
    const client = createLedgerClient({ members: [leaderUrl, ...cluster.httpUrls.filter((u) => u !== leaderUrl)] });
    for (let i = 0; i < 200; i++) await client.applyOrder(nextOrder(0)); // warm-up, untraced
    const end = performance.now() + seconds * 1000;
    while (performance.now() < end) {
      trace('send');
      await client.applyOrder(nextOrder(0));
      trace('done');
      writes++;
    }
    client.close();
  } finally {
    await cluster.stop();
  }
  flushTrace();
  const stamps = readStamps(dir, process.pid);
  const offsets = timeline(stamps);
  const all = writesOf(stamps).sort((a, b) => a.at(-1)!.us - b.at(-1)!.us);
  const at = (q: number) => all[Math.min(all.length - 1, Math.floor(all.length * q))]!;
  // The median and the 25th percentile show the path; the 99th shows what a slow write waited for.
  for (const [label, w] of [
    ['median', at(0.5)],
    ['25th percentile', at(0.25)],
    ['99th percentile', at(0.99)],
  ] as const) {
    console.log(`one write at the ${label}:`);
    let prev = 0;
    for (const e of w) {
      console.log(`  ${e.key.padEnd(34)} ${e.us.toFixed(0).padStart(7)}  (+${(e.us - prev).toFixed(0)})`);
      prev = e.us;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const rows = [...offsets]
    .filter(([, list]) => list.length >= writes / 2)
    .map(([key, list]) => ({
      key,
      count: list.length,
      p50: percentile(
        [...list].sort((a, b) => a - b),
        50,
      ),
    }))
    .sort((a, b) => a.p50 - b.p50);
  console.log(`${writes} writes traced; median µs since the client sent (events seen in ≥ half the writes):`);
  let last = 0;
  for (const r of rows) {
    console.log(`${r.key.padEnd(34)} ${r.p50.toFixed(0).padStart(7)}  (+${(r.p50 - last).toFixed(0)})  n=${r.count}`);
    last = r.p50;
  }
}

if (require.main === module) runCommand(command, main);
