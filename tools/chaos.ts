/**
 * `npm run chaos -- <scenario|all> [--seconds 20] [--rate 100] [--strategy stack] [--dynamodb NAME]
 *  [--dir .data/chaos]`
 * Each scenario starts a fresh embedded stack, drives ticks at --rate for --seconds while injecting its
 * fault (and on until 3 s after the fault is over: tools/lib/chaos-scenarios.ts), heals, runs verify, and fails unless verify passes. Scenarios: pause-leader, kill-leader,
 * flaky-network, crash-execute, restart-emulators; `all` runs them in turn.
 * `--target localstack`: pause-leader / kill-leader on the compose Raft containers of a deployed stack
 * (tools/targets/compose-chaos.ts; untested, needs Docker).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, runCommand, UsageError, type CommandContext } from '../shared/process/cli';
import { prepareAssembly, runScenario, SCENARIOS, type ScenarioName } from './lib/chaos-scenarios';
import { claimDataDir } from '../local-cloud/data-dir';
import { STRATEGY_OPTION, STRATEGY_USAGE, strategySchema } from './lib/strategy-option';
import { DYNAMODB_OPTION, dynamodbOption, dynamodbSchema, dynamodbUsage } from './lib/dynamodb-option';
import { COMPOSE_CHAOS_OPTIONS, COMPOSE_CHAOS_USAGE, runComposeChaos } from './targets/compose-chaos';
import { parseTarget, TARGET_ARGS } from './targets/deployed-stack';
import { printReport } from './verify';
import { LOAD_TEST_STRATEGY } from '../shared/domain/load-test-strategy';

const command = defineCommand({
  name: 'npm run chaos',
  usage: `usage: npm run chaos -- <scenario|all> [--seconds 20] [--rate 100] [--strategy stack] [--dynamodb NAME] [--dir .data/chaos]
  scenario                   ${SCENARIOS.join(', ')}, or all (in turn)
  --seconds S                load and fault duration per scenario; the load goes on until 3 s after the fault is over (default 20)
  --rate N                   ticks per second (default 100); with --strategy load-test-every-tick, orders per second
${STRATEGY_USAGE}
${dynamodbUsage(29)}
  --dir DIR                  embedded: parent of each scenario's fresh data dir (default .data/chaos)
${COMPOSE_CHAOS_USAGE}
Exit 0 when every scenario's verify passes, 1 otherwise.`,
  positionals: ['scenario'],
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '100' },
    ...STRATEGY_OPTION,
    ...DYNAMODB_OPTION,
    dir: { type: 'string', default: '.data/chaos' },
    ...COMPOSE_CHAOS_OPTIONS,
    ...TARGET_ARGS.options,
  },
  schema: z.object({
    scenario: z.enum([...SCENARIOS, 'all'], { error: `must be one of: ${SCENARIOS.join(', ')}, all` }),
    seconds: z.coerce.number().int().min(5).max(3600),
    rate: z.coerce.number().int().min(1).max(10_000),
    strategy: strategySchema,
    dynamodb: dynamodbSchema,
    dir: z.string().min(1),
    'data-dir': z.string().min(1),
    'compose-file': z.string().min(1),
    'node-urls': z.string().min(1),
    direct: z.boolean(),
    ...TARGET_ARGS.shape,
  }),
});

type ChaosArgs = ReturnType<typeof command.parse>;

async function main({ argv }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const target = parseTarget(args.target);
  if (target === 'aws') throw new UsageError('--target aws: chaos runs on the embedded cloud or localstack only');
  const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  if (target === 'localstack') return runComposeChaos(args, log);
  const baseDir = resolve(args.dir);
  // The run's assembly and every scenario's data dir live under it: one chaos run at a time (local-cloud/data-dir.ts).
  const lock = claimDataDir(baseDir, {
    onLost: (detail) => log(`the chaos dir is no longer this run's alone: ${detail}`),
  });
  try {
    return await runScenarios(args, baseDir, log);
  } finally {
    lock.release();
  }
}

async function runScenarios(args: ChaosArgs, baseDir: string, log: (line: string) => void): Promise<number> {
  const names: ScenarioName[] = args.scenario === 'all' ? [...SCENARIOS] : [args.scenario];
  log(`synthesizing PipelineStack once for ${names.length} scenario(s)…`);
  const assembly = await prepareAssembly(baseDir, args.strategy);
  const results = [];
  for (const name of names) {
    const result = await runScenario(
      name,
      {
        seconds: args.seconds,
        ticksPerSecond: args.rate,
        baseDir,
        log,
        ...dynamodbOption(args.dynamodb),
        oneOrderPerTick: args.strategy === LOAD_TEST_STRATEGY,
      },
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
  return results.every((r) => r.ok) ? 0 : 1;
}

// Stopped by a signal it exits at once: the stack's processes watch this one and stop themselves.
if (require.main === module) runCommand(command, main);
