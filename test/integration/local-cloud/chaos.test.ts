import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareAssembly, runScenario, SCENARIOS, type ScenarioName } from '../../../tools/lib/chaos-scenarios';

/**
 * Every chaos scenario at a small scale (10 s of load each, a fresh embedded stack each, one synthesized
 * assembly for all): the fault is injected, then verify must pass.
 */
describe('chaos at small scale', () => {
  const baseDir = mkdtempSync(join(tmpdir(), 'chaos-test-'));
  const env = { ...process.env };
  let assembly: string;

  beforeAll(async () => {
    assembly = await prepareAssembly(baseDir);
  }, 180_000);
  afterEach(() => {
    // startEmbeddedStack points this process's SDK at its edge; give the next scenario a clean slate.
    process.env = { ...env };
  });

  it.each<ScenarioName>([...SCENARIOS])(
    '%s: verify passes after the fault',
    async (scenario) => {
      const lines: string[] = [];
      const result = await runScenario(
        scenario,
        { seconds: 10, ticksPerSecond: 100, baseDir, log: (l) => lines.push(l) },
        assembly,
      );
      // Every line of the run on failure: the moment that matters (a fault, a runtime error) is rarely the last.
      if (!result.ok)
        throw new Error(
          `${scenario} failed: ${result.error ?? result.report?.problems.join('; ')}\n${lines.join('\n')}`,
        );
      // flaky-network's fault is the network itself, from the start: no separate fault events.
      if (scenario !== 'flaky-network') expect(result.faults.length).toBeGreaterThan(0);
      expect(result.report?.counts.commands).toBeGreaterThan(0);
      expect(result.report?.counts.ordersExecutedTwice).toBe(0);
    },
    240_000,
  );
});
