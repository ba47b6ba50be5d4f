import { resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, parseEnv, runCommand, type CommandContext } from '../shared/process/cli';
import { createLedgerClient } from '../shared/raft-client/client';
import type { RaftCluster, RaftClusterOptions } from '../local-cloud';
import { formatPhase, ledgerTarget, measure, percentile, type PhaseResult } from './bench-raft';

/**
 * `npm run bench:raft:ab -- --base DIR`: an A/B of two ledger builds on one shared machine. DIR is another checkout
 * of this repository (e.g. `git archive main | tar -x -C DIR`, with node_modules linked); its raft-node runs as
 * cluster A, this checkout's as B, both up at once. Each client count is measured in ROUNDS short phases that
 * alternate A, B, B, A, … through this checkout's client library, so both see the same machine load; prints each
 * phase, then per client count the median writes/s and p50/p99 of each side and the median of the per-round B/A
 * ratios (a ratio above 1 means B is faster).
 */

const command = defineCommand({
  name: 'npm run bench:raft:ab',
  usage: `usage: npm run bench:raft:ab -- --base DIR
Cluster A from the checkout at DIR, cluster B from this one, measured in alternating phases.
Environment:
  AB_SECONDS       each phase's length in seconds (default 2)
  AB_ROUNDS        phases per side and client count (default 6)
  AB_CONCURRENCY   client counts, comma-separated (default 1,256)`,
  options: { base: { type: 'string' } },
  schema: z.object({ base: z.string().min(1, '--base DIR is required') }),
});

const Env = z.object({
  AB_SECONDS: z.coerce.number().positive().default(2),
  AB_ROUNDS: z.coerce.number().int().min(1).default(6),
  AB_CONCURRENCY: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated client counts, e.g. 1,256')
    .default('1,256')
    .transform((s) => s.split(',').map(Number)),
});

type Start = (opts?: RaftClusterOptions) => Promise<RaftCluster>;

async function membersOf(cluster: RaftCluster): Promise<string[]> {
  const leader = await cluster.leaderUrl();
  return [leader, ...cluster.httpUrls.filter((u) => u !== leader)];
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function main({ argv }: CommandContext): Promise<void> {
  const { base } = command.parse(argv);
  const { AB_SECONDS: seconds, AB_ROUNDS: rounds, AB_CONCURRENCY: concurrencies } = parseEnv(Env);
  // The other checkout's launcher bundles that checkout's raft-node (its own module instance).
  const startA = ((await import(resolve(base, 'local-cloud'))) as { startRaftCluster: Start }).startRaftCluster;
  const startB = ((await import('../local-cloud')) as { startRaftCluster: Start }).startRaftCluster;
  const env = { LOG_LEVEL: 'warn' };
  const a = await startA({ env });
  const b = await startB({ env });
  try {
    const sides = [
      { name: 'A', client: createLedgerClient({ members: await membersOf(a) }) },
      { name: 'B', client: createLedgerClient({ members: await membersOf(b) }) },
    ];
    for (const clients of concurrencies) {
      const results: Record<string, PhaseResult[]> = { A: [], B: [] };
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? sides : [...sides].reverse();
        for (const side of order) {
          const r = await measure({ ...ledgerTarget(side.client, 1), name: side.name }, seconds, clients);
          results[side.name]!.push(r);
          console.log(formatPhase(r));
        }
      }
      const ratios = results.B!.map((r, i) => r.writesPerSecond / results.A![i]!.writesPerSecond);
      for (const side of ['A', 'B']) {
        const rs = results[side]!;
        console.log(
          `${side} clients=${clients}: median writes/s ${median(rs.map((r) => r.writesPerSecond)).toFixed(0)}, ` +
            `p50 ${median(rs.map((r) => r.p50)).toFixed(2)} ms, p99 ${median(rs.map((r) => r.p99)).toFixed(2)} ms, ` +
            `load ${median(rs.map((r) => r.load)).toFixed(1)}`,
        );
      }
      console.log(
        `B/A clients=${clients}: median ${median(ratios).toFixed(2)}× (rounds ${ratios.map((x) => x.toFixed(2)).join(' ')})`,
      );
    }
    for (const side of sides) side.client.close();
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

if (require.main === module) runCommand(command, main);
