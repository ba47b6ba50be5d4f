import { runSimulation, zeroCounts, type SimOptions, type SimStats } from './sim';

export interface SeedRunSummary {
  seeds: number;
  failures: { seed: number; message: string }[];
  totals: Omit<SimStats, 'seed' | 'clusterSize'>;
  millis: number;
}

/** Runs seeds first..first+count-1 and sums what happened; failures carry the replay command. */
export function runSeeds(
  first: number,
  count: number,
  options: SimOptions = {},
  onFailure?: (seed: number, message: string) => void,
): SeedRunSummary {
  const started = Date.now();
  const totals: SeedRunSummary['totals'] = zeroCounts();
  const failures: SeedRunSummary['failures'] = [];
  for (let seed = first; seed < first + count; seed++) {
    try {
      const s = runSimulation(seed, options);
      for (const key of Object.keys(totals) as (keyof SeedRunSummary['totals'])[]) {
        totals[key] = key === 'maxTerm' ? Math.max(totals[key], s[key]) : totals[key] + s[key];
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      failures.push({ seed, message });
      onFailure?.(seed, message);
    }
  }
  return { seeds: count, failures, totals, millis: Date.now() - started };
}
