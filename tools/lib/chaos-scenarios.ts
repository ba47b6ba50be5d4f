import { join } from 'node:path';
import { embeddedContext, startLocalCloud, STACK_NAME, synthesize, type LocalCloud } from '../../local-cloud';
import { strategyContext } from './strategy-option';
import { dynamodbOption } from './dynamodb-option';
import type { DynamoDbFlavour } from '../../local-cloud/emulators/dynamodb';
import { putTicks, TickSource } from './tick-driver';
import { verifyPipeline, type VerifyReport } from './verify-pipeline';
import { clusterReader } from '../targets/remote-raft';
import { sleep } from '../../shared/util/wait';
import { createKinesisClient } from '../../shared/aws/clients';

export const SCENARIOS = [
  'pause-leader',
  'kill-leader',
  'flaky-network',
  'crash-execute',
  'restart-emulators',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

interface Scenario {
  description: string;
  raftEnv?: Record<string, string>;
  sqsOutsideEdge?: boolean;
  /** Injects the fault while the load runs; resolves when done (checks `running()` to stop early). */
  fault(stack: LocalCloud, note: (line: string) => void, running: () => boolean): Promise<void>;
}

const scenarios: Record<ScenarioName, Scenario> = {
  'pause-leader': {
    description: 'SIGSTOP the Raft leader for 2.5 s during applies, then SIGCONT; repeated',
    fault: async (stack, note, running) => {
      await sleep(3000);
      while (running()) {
        const leader = await stack.raft.leader();
        note(`SIGSTOP ${leader.id} (leader)`);
        await stack.raft.kill(leader.id, 'SIGSTOP');
        await sleep(2500);
        await stack.raft.kill(leader.id, 'SIGCONT');
        note(`SIGCONT ${leader.id}`);
        await sleep(4000);
      }
    },
  },
  'kill-leader': {
    description:
      'SIGKILL the Raft leader mid-run; the first one comes back with CHAOS_EXIT_ON_LEADER (it exits again the moment it wins an election)',
    fault: async (stack, note, running) => {
      const { raft } = stack;
      // A node that exited (on leadership) is started again without the flag, as an operator would.
      const revive = async () => {
        for (const n of raft.nodes) {
          if (!raft.isRunning(n)) {
            raft.spawn(n);
            note(`${n.id} had exited; restarted without chaos flags`);
          }
        }
      };
      await sleep(3000);
      for (let round = 0; running(); round++) {
        const leader = await raft.leader();
        note(`SIGKILL ${leader.id} (leader)`);
        await raft.kill(leader.id, 'SIGKILL');
        await sleep(1000);
        raft.spawn(leader, round === 0 ? { CHAOS_ENABLED: 'true', CHAOS_EXIT_ON_LEADER: 'true' } : {});
        note(`restarted ${leader.id}${round === 0 ? ' with CHAOS_EXIT_ON_LEADER' : ''}`);
        for (let i = 0; i < 12 && running(); i++) {
          await sleep(500);
          await revive();
        }
      }
      await revive();
    },
  },
  'flaky-network': {
    description: 'every message between Raft nodes: 30% dropped, the rest delayed 50-250 ms (raft-node CHAOS_*)',
    raftEnv: {
      CHAOS_ENABLED: 'true',
      CHAOS_DROP_PCT: '30',
      CHAOS_DELAY_MS_MIN: '50',
      CHAOS_DELAY_MS_MAX: '250',
      CHAOS_SEED: '7',
    },
    fault: async () => undefined,
  },
  'crash-execute': {
    description: 'kill the execute worker process in the middle of its invocations (between its steps), every 2 s',
    fault: async (stack, note, running) => {
      const execute = Object.entries(stack.runtime.functions).find(([id]) => id.startsWith('Execute'))?.[1];
      if (!execute) throw new Error(`${STACK_NAME} has no execute function`);
      await sleep(2000);
      while (running()) {
        const killed = await execute.killBusyWorkers();
        if (killed > 0) note(`killed ${killed} execute worker(s) mid-invocation`);
        // Invocations are short: look again soon until one is caught mid-flight, then wait 2 s before the next.
        await sleep(killed > 0 ? 2000 : 50);
      }
    },
  },
  'restart-emulators': {
    description:
      'restart kinesalite and DynamoDB Local (same ports, same data) mid-run; fauxqs runs beside the edge (in memory only)',
    sqsOutsideEdge: true,
    fault: async (stack, note) => {
      await sleep(5000);
      note('restarting the emulators…');
      await stack.edge.restartEmulators();
      note('emulators restarted');
    },
  },
};

/**
 * With one order per tick, the orders made must be at least the ticks acknowledged (a put refused by the SDK may still
 * have landed, so more is not a loss): fewer means an acknowledged tick was lost somewhere between the stream and the
 * commands queue, whatever the path — the check that found a mapping giving up on ticks during an emulator restart.
 */
function checkEveryTickOrdered(report: VerifyReport, acknowledged: number): void {
  report.counts.ticksAcknowledged = acknowledged;
  const orders = report.counts.commands ?? 0;
  if (orders >= acknowledged) return;
  report.problems.push(
    `${acknowledged - orders} acknowledged tick(s) made no order (${acknowledged} ticks, ${orders} orders)`,
  );
  report.ok = false;
}

/** Load after a scenario's fault is over (see runScenario). */
const AFTER_FAULT_MS = 3000;

export interface ChaosOptions {
  seconds: number;
  ticksPerSecond: number;
  baseDir: string;
  log: (line: string) => void;
  /** The DynamoDB emulator of each scenario's stack; the default choice when absent. */
  dynamodb?: DynamoDbFlavour;
  /** The strategy makes one order per tick (`load-test-every-tick`): every acknowledged tick must have its order. */
  oneOrderPerTick?: boolean;
}

export interface ChaosResult {
  scenario: ScenarioName;
  ok: boolean;
  report: VerifyReport | undefined;
  error: string | undefined;
  faults: string[];
  seconds: number;
}

/**
 * Synthesizes PipelineStack once for all the scenarios of a run (each deploy sets its own Raft members and secret),
 * with the given strategy (tools/lib/strategy-option.ts), into `baseDir`. Every run synthesizes afresh: an assembly
 * kept from an earlier run holds the code and settings of then (a run after a code change tested the old bundles).
 */
export async function prepareAssembly(baseDir: string, strategy = 'stack'): Promise<string> {
  const outdir = join(baseDir, strategy === 'stack' ? 'cdk.out' : `cdk.out-${strategy}`);
  await synthesize({
    outdir,
    context: embeddedContext({
      ...strategyContext(strategy),
      raftMembers: 'http://127.0.0.1:1',
      raftAuthSecret: 'replaced-at-deploy-time',
      feedEnabled: 'false',
      // Visibility timeout = 6 × this: a crashed execute's batch comes back after 30 s, not 3 min.
      executeTimeoutSeconds: '5',
    }),
  });
  return outdir;
}

/** Runs load against a fresh embedded stack while injecting the scenario's fault, then verifies. */
export async function runScenario(name: ScenarioName, opts: ChaosOptions, assemblyDir: string): Promise<ChaosResult> {
  const scenario = scenarios[name];
  const started = Date.now();
  const faults: string[] = [];
  const note = (line: string) => {
    faults.push(line);
    opts.log(`[${name}] ${line}`);
  };
  const dataDir = join(opts.baseDir, name);
  let stack: LocalCloud | undefined;
  try {
    opts.log(`[${name}] ${scenario.description}`);
    stack = await startLocalCloud({
      dataDir,
      fresh: true,
      edgePort: 0,
      assemblyDir,
      ...dynamodbOption(opts.dynamodb),
      log: (l) => opts.log(`[${name}] ${l}`),
      ...(scenario.raftEnv ? { raftEnv: scenario.raftEnv } : {}),
      ...(scenario.sqsOutsideEdge ? { sqsOutsideEdge: true } : {}),
    });
    const kinesis = createKinesisClient();
    const stream = stack.info.outputs.TicksStreamName as string;
    const source = new TickSource(['AAPL', 'MSFT', 'AMZN'], `chaos-${name}`);
    const loadStarted = Date.now();
    const loadEnds = loadStarted + opts.seconds * 1000;
    const running = () => Date.now() < loadEnds;
    const activeStack = stack;
    // The load goes on until the fault is over and AFTER_FAULT_MS more, however long the fault took: verify then
    // always covers the pipeline working again after it. (A restart of the emulators took 14 s on a loaded machine,
    // longer than a 10 s run's second half, and one CI run's load ended before any order had been made.)
    let faultOverAt: number | undefined;
    const fault = scenario.fault(activeStack, note, running).finally(() => (faultOverAt = Date.now()));
    const loading = () => running() || faultOverAt === undefined || Date.now() < faultOverAt + AFTER_FAULT_MS;
    let sent = 0;
    while (loading()) {
      const tickStart = Date.now();
      const ticks = source.next(Math.max(1, Math.round(opts.ticksPerSecond / 5)));
      // A refused put (the stream is down: restart-emulators) is not acknowledged, so it is not counted; the load goes
      // on with the next ticks rather than resending these, as a feed that drops what it could not deliver.
      const acknowledged = await putTicks(kinesis, stream, ticks).then(
        () => true,
        (err: unknown) => {
          opts.log(`[${name}] put of ${ticks.length} ticks refused, not counted: ${(err as Error).message}`);
          return false;
        },
      );
      if (acknowledged) sent += ticks.length;
      await sleep(Math.max(0, 200 - (Date.now() - tickStart)));
    }
    kinesis.destroy();
    await fault;
    const loadSeconds = ((Date.now() - loadStarted) / 1000).toFixed(1);
    opts.log(`[${name}] load done: ${sent} ticks acknowledged in ${loadSeconds} s; healing and verifying…`);
    // Heal: every node running, none with per-run chaos flags, so verify reads all three.
    for (const node of stack.raft.nodes) {
      if (stack.raft.isRunning(node) && Object.keys(node.extraEnv).length > 0)
        await stack.raft.kill(node.id, 'SIGTERM');
      if (!stack.raft.isRunning(node)) {
        stack.raft.spawn(node);
        note(`restarted ${node.id} for verify`);
      }
    }
    for (const node of stack.raft.nodes) await stack.raft.waitReady(node.id);
    const report = await verifyPipeline(stack.info, stack.sqs, clusterReader(stack.raft), {
      settleTimeoutMs: 120_000,
      log: (l) => opts.log(`[${name}] ${l}`),
    });
    if (opts.oneOrderPerTick) checkEveryTickOrdered(report, sent);
    return { scenario: name, ok: report.ok, report, error: undefined, faults, seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    return {
      scenario: name,
      ok: false,
      report: undefined,
      error: (err as Error).message,
      faults,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await stack?.stop();
  }
}
