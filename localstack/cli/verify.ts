/**
 * `npm run verify [-- --data-dir DIR]`: checks the running embedded stack (started by `npm start` on the
 * same data dir) — see localstack/deploy/verify.ts for the checks. Exit 0 when all hold, 1 otherwise.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { RaftNodes } from '../deploy/raft-nodes';
import { stackInfoFile, type StackInfo } from '../deploy/stack';
import { verifyPipeline, type VerifyReport } from '../deploy/verify';

export function printReport(report: VerifyReport, write: (s: string) => void = (s) => process.stdout.write(s)): void {
  const width = Math.max(...Object.keys(report.counts).map((k) => k.length));
  for (const [k, v] of Object.entries(report.counts)) write(`  ${k.padEnd(width)}  ${v}\n`);
  for (const p of report.problems) write(`  FAIL ${p}\n`);
  write(report.ok ? 'verify: OK — every check holds\n' : `verify: FAILED — ${report.problems.length} problem(s)\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string', default: '.data' }, settle: { type: 'string', default: '60' } },
  });
  const dataDir = resolve(values['data-dir']);
  const file = stackInfoFile(dataDir);
  if (!existsSync(file))
    throw new Error(`${file} not found: start the stack first (npm start -- --data-dir ${values['data-dir']})`);
  const info = JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: info.endpoint,
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
  const raft = RaftNodes.plan({ dir: join(dataDir, 'raft') });
  const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
  try {
    const report = await verifyPipeline(info, sqs, raft.reader(), {
      settleTimeoutMs: Number(values.settle) * 1000,
      log: (l) => process.stdout.write(`${l}\n`),
    });
    printReport(report);
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    sqs.destroy();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`verify failed to run: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
