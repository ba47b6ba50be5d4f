/**
 * Runs many simulation seeds outside jest: `npm run sim:raft -- --seeds 10000 [--from 1]`.
 * Prints a summary and, for each failing seed, the command that replays it; exits non-zero on any failure.
 */
import { parseArgs } from 'node:util';
import { runSeeds } from './seeds';
import { replayCommand } from './sim';

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    from: { type: 'string' },
    duration: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(
    'usage: npm run sim:raft -- [--seeds N (1000)] [--from S (1)] [--duration UNITS (2000)]\n' +
      'Runs seeds S..S+N-1 of the deterministic Raft simulation (clients send single orders, batches and reads);\n' +
      'prints totals per 250 seeds and a replay command for each failing seed; exits 1 if any failed.',
  );
  process.exit(0);
}
const count = positiveInt('seeds', values.seeds, 1000);
const from = positiveInt('from', values.from, 1);
const duration = positiveInt('duration', values.duration, 2000);

const chunk = 250;
let failures = 0;
const started = Date.now();
for (let first = from; first < from + count; first += chunk) {
  const n = Math.min(chunk, from + count - first);
  const summary = runSeeds(first, n, { duration }, (seed, message) => {
    failures++;
    console.error(`FAIL ${message.split('\n')[0]}\n  replay: ${replayCommand(seed)}`);
  });
  const t = summary.totals;
  console.log(
    `seeds ${first}..${first + n - 1}: ${summary.millis} ms, elections ${t.elections}, crashes ${t.crashes}, ` +
      `partitions ${t.partitions}, snapshots ${t.snapshotsSent} (sent later than the compaction point ${t.laterSnapshotsSent}), membership changes ${t.membershipChanges}, transfers ${t.transfers}, ` +
      `ops ${t.operations} (batches ${t.batches}, cancels ${t.cancels} of which won ${t.canceledOrders}, acked ${t.acknowledged}, timed out ${t.timedOut})`,
  );
}
console.log(`${count} seeds in ${Date.now() - started} ms, ${failures} failed`);
process.exit(failures > 0 ? 1 : 0);
