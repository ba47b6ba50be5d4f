/**
 * `npm run chaos -- <scenario|all> [--seconds 20] [--rate 100] [--dir .data/chaos]`
 * Each scenario starts a fresh embedded stack, drives ticks at --rate for --seconds while injecting its
 * fault, heals, runs verify, and fails unless verify passes. Scenarios: pause-leader, kill-leader,
 * flaky-network, crash-execute, restart-emulators; `all` runs them in turn.
 * `--target localstack`: pause-leader / kill-leader on the compose Raft containers of a deployed stack
 * (tools/targets/compose-chaos.ts; untested, needs Docker).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { prepareAssembly, runScenario, SCENARIOS, type ScenarioName } from './lib/chaos-scenarios';
import { runComposeChaos } from './targets/compose-chaos';
import { printReport } from './verify';

const ArgsSchema = z.object({
  scenario: z.enum([...SCENARIOS, 'all'], { error: `scenario must be one of: ${SCENARIOS.join(', ')}, all` }),
  seconds: z.coerce.number().int().min(5).max(3600),
  rate: z.coerce.number().int().min(1).max(10_000),
  dir: z.string().min(1),
});

async function main(): Promise<void> {
  const target = parseArgs({ strict: false, options: { target: { type: 'string' } } }).values.target;
  if (target !== undefined && target !== 'embedded') {
    const code = await runComposeChaos(process.argv.slice(2), (l) => process.stdout.write(`${l}\n`)).catch(
      (err: unknown) => {
        process.stderr.write(`npm run chaos: ${(err as Error).message}\n`);
        return 2;
      },
    );
    process.exit(code);
  }
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '20' },
      rate: { type: 'string', default: '100' },
      dir: { type: 'string', default: '.data/chaos' },
      target: { type: 'string', default: 'embedded' },
    },
  });
  const parsed = ArgsSchema.safeParse({ ...values, scenario: positionals[0] });
  if (!parsed.success) {
    process.stderr.write(
      `npm run chaos: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`,
    );
    process.exit(2);
  }
  const args = parsed.data;
  const baseDir = resolve(args.dir);
  const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  const names: ScenarioName[] = args.scenario === 'all' ? [...SCENARIOS] : [args.scenario];
  log(`synthesizing PipelineStack once for ${names.length} scenario(s)…`);
  const assembly = await prepareAssembly(baseDir);
  const results = [];
  for (const name of names) {
    const result = await runScenario(
      name,
      { seconds: args.seconds, ticksPerSecond: args.rate, baseDir, log },
      assembly,
    );
    results.push(result);
    process.stdout.write(
      `\n== ${name}: ${result.ok ? 'PASS' : 'FAIL'} (${result.seconds.toFixed(0)} s, ${result.faults.length} fault event(s))\n`,
    );
    if (result.report) printReport(result.report);
    if (result.error) process.stdout.write(`  error: ${result.error}\n`);
  }
  process.stdout.write(
    `\nchaos summary: ${results.map((r) => `${r.scenario} ${r.ok ? 'PASS' : 'FAIL'}`).join(', ')}\n`,
  );
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos failed to run: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
