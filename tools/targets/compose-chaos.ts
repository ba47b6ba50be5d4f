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
import { parseArgs, promisify } from 'node:util';
import { z } from 'zod';
import { deriveApiToken } from '../../shared/raft-client/auth';
import type { NodeStatus } from '../../shared/raft-client/types';
import { runLoad } from '../load';
import { runVerify } from '../verify';
import { waitFor } from '../../local-cloud/raft-nodes';
import { TARGET_ARG_OPTIONS, TargetError } from './deployed-stack';

const run = promisify(execFile);
export const COMPOSE_SCENARIOS = ['pause-leader', 'kill-leader'] as const;
const DEFAULT_NODE_URLS = 'http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083';

const ArgsSchema = z.object({
  scenario: z.enum(COMPOSE_SCENARIOS, {
    error: `on --target localstack the scenarios are ${COMPOSE_SCENARIOS.join(', ')} (flaky-network, crash-execute and restart-emulators need the embedded cloud)`,
  }),
  seconds: z.coerce.number().int().min(5).max(3600),
  rate: z.coerce.number().int().min(1).max(10_000),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runComposeChaos(argv: string[], log: (l: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '20' },
      rate: { type: 'string', default: '100' },
      'data-dir': { type: 'string', default: '.data' },
      'compose-file': { type: 'string', default: 'localstack/docker-compose.yml' },
      'node-urls': { type: 'string', default: DEFAULT_NODE_URLS },
      direct: { type: 'boolean', default: false },
      ...TARGET_ARG_OPTIONS,
    },
  });
  if (values.target !== 'localstack') throw new TargetError('compose chaos runs only with --target localstack');
  const parsed = ArgsSchema.safeParse({ ...values, scenario: positionals[0] });
  if (!parsed.success) throw new TargetError(parsed.error.issues.map((i) => i.message).join('; '));
  const { scenario, seconds, rate } = parsed.data;
  const nodeUrls = values['node-urls'].split(',');
  const compose = (...args: string[]) => run('docker', ['compose', '-f', values['compose-file'], ...args]);
  const secret = process.env.RAFT_AUTH_SECRET;
  const headers: Record<string, string> = secret ? { authorization: `Bearer ${deriveApiToken(secret)}` } : {};
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
  const targetArgs = Object.keys(TARGET_ARG_OPTIONS).flatMap((k) => {
    const v = (values as Record<string, unknown>)[k];
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
