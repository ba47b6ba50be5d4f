/**
 * `npm run verify [-- --target embedded|localstack|aws] [--data-dir DIR] [--settle 60]`
 *
 * embedded (default): checks the running embedded stack (started by `npm start` on the same data dir).
 * localstack / aws: checks a deployed PipelineStack, found through CloudFormation outputs or flags (see
 * tools/targets/deployed-stack.ts). The events queue is drained into `<data-dir>/verify-<target>/`
 * (verify is then the queue's consumer: keep that dir between runs), the orders table's claims stand for
 * the command record, and the ledger is read per Raft member when RaftMembers is reachable, else through
 * the HTTP API. See tools/lib/verify-pipeline.ts for the checks. Exit 0 when all hold, 1 otherwise.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, runCommand } from '../shared/process/cli';
import { RaftCluster } from '../local-cloud';
import { openEmbeddedStack } from './targets/embedded-stack';
import { verifyPipeline, type RaftReader, type VerifyReport } from './lib/verify-pipeline';
import {
  parseTarget,
  resolveDeployedStack,
  TARGET_ARGS,
  TargetError,
  type RemoteTarget,
} from './targets/deployed-stack';
import { clusterReader, httpApiReader, raftMembersReader } from './targets/remote-raft';
import { createSignedFetch } from './targets/signed-fetch';
import { createSqsClient } from '../shared/aws/clients';

const command = defineCommand({
  name: 'npm run verify',
  usage: `usage: npm run verify -- [--target embedded|localstack|aws] [--data-dir .data] [--settle 60]
  --data-dir DIR             the embedded stack's data dir; verify-<target>/ below it for the others (default .data)
  --settle S                 seconds to wait for the pipeline to go quiet (default 60)
${TARGET_ARGS.usage}
Exit 0 when every check holds, 1 when one fails, 2 when it cannot run as asked.`,
  options: {
    'data-dir': { type: 'string', default: '.data' },
    settle: { type: 'string', default: '60' },
    ...TARGET_ARGS.options,
  },
  schema: z.object({
    'data-dir': z.string().min(1),
    settle: z.string().regex(/^\d+$/, 'must be a whole number of seconds').transform(Number),
    ...TARGET_ARGS.shape,
  }),
});

export function printReport(report: VerifyReport, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  for (const c of report.checks) write(`  check: ${c}\n`);
  const width = Math.max(...Object.keys(report.counts).map((k) => k.length));
  for (const [k, v] of Object.entries(report.counts)) write(`  ${k.padEnd(width)}  ${v}\n`);
  for (const p of report.problems) write(`  FAIL ${p}\n`);
  write(report.ok ? 'verify: OK — every check holds\n' : `verify: FAILED — ${report.problems.length} problem(s)\n`);
}

function parse(argv: string[]) {
  const values = command.parse(argv);
  return { values, settleMs: values.settle * 1000, target: parseTarget(values.target) };
}

async function verifyEmbedded(dataDir: string, settleMs: number, log: (l: string) => void): Promise<VerifyReport> {
  const info = openEmbeddedStack(dataDir);
  const raft = clusterReader(RaftCluster.open({ dir: join(dataDir, 'raft') }));
  const sqs = createSqsClient();
  try {
    return await verifyPipeline(info, sqs, raft, { settleTimeoutMs: settleMs, log });
  } finally {
    sqs.destroy();
  }
}

async function verifyDeployed(
  target: RemoteTarget,
  flags: Readonly<Record<string, unknown>>,
  dataDir: string,
  settleMs: number,
  log: (l: string) => void,
): Promise<VerifyReport> {
  const stack = await resolveDeployedStack(target, flags, ['EventsQueueUrl', 'OrdersTableName']);
  log(
    `verify ${target}${stack.endpoint ? ` at ${stack.endpoint}` : ''} (region ${stack.region}): ` +
      Object.entries(stack.outputs)
        .map(([k, v]) => `${k}=${v} [${stack.sources[k as keyof typeof stack.sources]}]`)
        .join(' '),
  );
  let raft: RaftReader;
  const unreachable = await unreachableMembers(stack.raftMembers);
  if (unreachable.length > 0 && stack.outputs.HttpApiUrl) {
    // LocalStack's stack names the compose nodes (http://raft-n1:8080), which resolve only inside Docker.
    log(
      `Raft members not reachable from here: ${unreachable.join(', ')} — reading the ledger through the HTTP API ` +
        `instead (pass --raft-members with addresses reachable from here, e.g. the compose host ports ` +
        `http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083, to check each node)`,
    );
    raft = httpApiReader(stack.outputs.HttpApiUrl, await createSignedFetch(stack.region), stack.tradingAccount);
  } else if (unreachable.length > 0) {
    throw new TargetError(`Raft members not reachable from here: ${unreachable.join(', ')}; pass --raft-members`);
  } else if (stack.raftMembers.length > 0) {
    if (!stack.raftAuthSecret)
      log('no RAFT_AUTH_SECRET / RAFT_AUTH_SECRET_ARN: reading the Raft members without credentials');
    raft = raftMembersReader(stack.raftMembers, stack.raftAuthSecret);
  } else if (stack.outputs.HttpApiUrl) {
    log('no Raft members given: reading the ledger through the HTTP API (one view, not each node)');
    raft = httpApiReader(stack.outputs.HttpApiUrl, await createSignedFetch(stack.region), stack.tradingAccount);
  } else throw new TargetError('neither RaftMembers nor HttpApiUrl is known: pass --raft-members or --http-api-url');
  const sqs = createSqsClient();
  try {
    return await verifyPipeline(
      { dataDir: join(dataDir, `verify-${target}`), outputs: stack.outputs, tradingAccount: stack.tradingAccount },
      sqs,
      raft,
      { settleTimeoutMs: settleMs, log, commandRecord: 'ordersTable' },
    );
  } finally {
    sqs.destroy();
  }
}

/** The members whose open health endpoint does not answer (name not resolvable, no route, nothing listening). */
async function unreachableMembers(members: string[]): Promise<string[]> {
  const answers = await Promise.all(
    members.map((url) =>
      fetch(`${url}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
        () => undefined,
        () => url,
      ),
    ),
  );
  return answers.filter((u): u is string => u !== undefined);
}

/** Runs verify with these arguments; resolves with the exit code. */
export async function runVerify(argv: string[], log: (l: string) => void): Promise<number> {
  const { values, settleMs, target } = parse(argv);
  const dataDir = resolve(values['data-dir']);
  const report =
    target === 'embedded'
      ? await verifyEmbedded(dataDir, settleMs, log)
      : await verifyDeployed(target, values, dataDir, settleMs, log);
  printReport(report, (s) => log(s.replace(/\n$/, '')));
  return report.ok ? 0 : 1;
}

if (require.main === module) runCommand(command, ({ argv }) => runVerify(argv, (l) => process.stdout.write(`${l}\n`)));
