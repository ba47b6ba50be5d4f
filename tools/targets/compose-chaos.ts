/**
 * `npm run chaos -- pause-leader|kill-leader --target localstack [--seconds 20] [--rate 100]`
 *
 * The Raft faults on the LocalStack target, where the nodes are the compose services raft-n1..3: while
 * `npm run load` drives ticks through the deployed stack, the current leader's container is paused
 * (`docker compose pause`, 2.5 s, repeated) or killed (`docker compose kill -s SIGKILL`, then `start`);
 * afterwards every container is running again and `npm run verify -- --target localstack` must pass.
 * The leader is found through the nodes' host ports (default http://127.0.0.1:8081-8083, localstack/README.md).
 * UNTESTED here: it needs Docker, which the machines this was written on do not have.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { UsageError } from '../../shared/process/cli';
import { bearerFor } from '../../shared/ledger-contract/auth';
import type { NodeStatus } from '../../shared/ledger-contract';
import { runLoad } from '../load';
import { runVerify } from '../verify';
import { sleep, waitFor } from '../../shared/util/wait';
import { TARGET_ARGS } from './deployed-stack';

const run = promisify(execFile);
export const COMPOSE_SCENARIOS = ['pause-leader', 'kill-leader'] as const;
const DEFAULT_NODE_URLS = 'http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083';

/** The flags only the compose scenarios read (besides the target flags, --seconds and --rate). */
export const COMPOSE_CHAOS_OPTIONS = {
  'data-dir': { type: 'string', default: '.data' },
  'compose-file': { type: 'string', default: 'localstack/docker-compose.yml' },
  'node-urls': { type: 'string', default: DEFAULT_NODE_URLS },
  direct: { type: 'boolean', default: false },
} as const;

export const COMPOSE_CHAOS_USAGE = `--target localstack (compose Raft containers; needs Docker): ${COMPOSE_SCENARIOS.join(', ')} only
  --data-dir DIR             verify's data dir (default .data)
  --compose-file F           default localstack/docker-compose.yml
  --node-urls U,U,U          the Raft nodes' host ports (default ${DEFAULT_NODE_URLS})
  --direct                   load writes to the ticks stream instead of POST /ticks
  and the target flags of npm run verify -- --help`;

export interface ComposeChaosArgs extends Readonly<Record<string, unknown>> {
  scenario: string;
  seconds: number;
  rate: number;
  'data-dir': string;
  'compose-file': string;
  'node-urls': string;
  direct: boolean;
}

export async function runComposeChaos(values: ComposeChaosArgs, log: (l: string) => void): Promise<number> {
  const scenario = values.scenario;
  if (!(COMPOSE_SCENARIOS as readonly string[]).includes(scenario))
    throw new UsageError(
      `on --target localstack the scenarios are ${COMPOSE_SCENARIOS.join(', ')} (flaky-network, crash-execute and restart-emulators need the embedded cloud)`,
    );
  const { seconds, rate } = values;
  const nodeUrls = values['node-urls'].split(',');
  const compose = (...args: string[]) => run('docker', ['compose', '-f', values['compose-file'], ...args]);
  const secret = process.env.RAFT_AUTH_SECRET;
  const headers: Record<string, string> = secret ? { authorization: bearerFor(secret, 'read', 3_600) } : {};
  const leaderService = () =>
    waitFor('a Raft leader', 30_000, async () => {
      for (const url of nodeUrls) {
        const res = await fetch(`${url}/v1/status`, { headers, signal: AbortSignal.timeout(1000) }).catch(() => null);
        const status = res?.status === 200 ? ((await res.json()) as NodeStatus) : undefined;
        if (status?.role === 'leader') return `raft-${status.nodeId}`;
      }
      return undefined;
    });

  // Every target flag given goes on to load and verify unchanged.
  const targetArgs = Object.keys(TARGET_ARGS.options).flatMap((k) => {
    const v = values[k];
    return typeof v === 'string' ? [`--${k}`, v] : [];
  });
  let running = true;
  const load = runLoad(
    [...targetArgs, '--rate', String(rate), '--seconds', String(seconds), ...(values.direct ? ['--direct'] : [])],
    log,
  ).finally(() => (running = false));
  const fault = (async () => {
    await sleep(3000);
    while (running) {
      const service = await leaderService();
      if (scenario === 'pause-leader') {
        log(`docker compose pause ${service} (leader)`);
        await compose('pause', service);
        await sleep(2500);
        await compose('unpause', service);
        log(`docker compose unpause ${service}`);
      } else {
        log(`docker compose kill -s SIGKILL ${service} (leader)`);
        await compose('kill', '-s', 'SIGKILL', service);
        await sleep(3000);
        await compose('start', service);
        log(`docker compose start ${service}`);
      }
      await sleep(4000);
    }
  })();
  const [loaded] = await Promise.all([load, fault]);
  // Heal: every node running again, whatever the last round left.
  await compose('unpause', 'raft-n1', 'raft-n2', 'raft-n3').catch(() => undefined);
  await compose('start', 'raft-n1', 'raft-n2', 'raft-n3');
  log(`load done: ${loaded.accepted}/${loaded.sent} ticks accepted; verifying…`);
  const code = await runVerify(
    [
      ...targetArgs.filter((a, i, all) => a !== '--raft-members' && all[i - 1] !== '--raft-members'),
      '--raft-members',
      nodeUrls.join(','),
      '--data-dir',
      values['data-dir'],
    ],
    log,
  );
  log(`chaos ${scenario} on localstack: ${code === 0 && loaded.accepted === loaded.sent ? 'PASS' : 'FAIL'}`);
  return code === 0 && loaded.accepted === loaded.sent ? 0 : 1;
}
