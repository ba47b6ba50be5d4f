import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEdge, type Edge } from '../../../local-cloud/edge';
import { runLoad } from '../../../tools/load';
import { runVerify } from '../../../tools/verify';
import { deployTemplate, type Deployment } from '../../../local-cloud/deploy/deploy';
import { RaftCluster } from '../../../local-cloud/raft-cluster';
import { embeddedContext, STACK_NAME } from '../../../local-cloud/stack';
import { readStack, synthesize } from '../../../local-cloud/deploy/synth';
import { startLocalRuntime, type LocalRuntime } from '../../../local-cloud/runtime';
import { CloudWatchLogSink } from '../../../local-cloud/runtime/log-sink';
import { localEndpointEnv } from '../../../shared/aws/clients';

/**
 * `load` and `verify` in their deployed-stack mode (--target localstack), pointed by explicit flags at the
 * embedded cloud's edge — the path that works without CloudFormation. The stack is deployed here without the
 * embedded cloud's events recorder, as on a real deployment, so verify is the events queue's only consumer.
 * Not tested here: reading the outputs with DescribeStacks (no CloudFormation emulator on this machine) and the
 * SigV4 POST /ticks path (no API Gateway emulated) — both need LocalStack or AWS.
 */
describe('load and verify against a deployed stack, resolved by flags', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'targets-'));
  const env = { ...process.env };
  let edge: Edge;
  let raft: RaftCluster;
  let deployment: Deployment;
  let runtime: LocalRuntime;
  let logs: CloudWatchLogSink;

  beforeAll(async () => {
    raft = await RaftCluster.create({ dir: join(dataDir, 'raft'), secret: 'generate' });
    const outdir = join(dataDir, 'cdk.out');
    [edge] = await Promise.all([
      startEdge({ port: 0, dataDir }),
      raft.start(),
      synthesize({
        outdir,
        context: embeddedContext({
          raftMembers: raft.httpUrls.join(','),
          raftAuthSecret: raft.secret!,
          feedEnabled: 'false',
        }),
      }),
    ]);
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete process.env[k];
    const clientEnv = localEndpointEnv(edge.endpoint);
    Object.assign(process.env, clientEnv);
    deployment = await deployTemplate({ outdir, stack: readStack(outdir, STACK_NAME), cognito: edge.cognito });
    logs = new CloudWatchLogSink({ endpoint: edge.endpoint });
    runtime = await startLocalRuntime(deployment, {
      baseEnv: clientEnv,
      logs,
      kinesisPollIntervalMs: 50,
      schedules: false,
    });
  }, 240_000);

  afterAll(async () => {
    await runtime?.stop();
    await logs?.close();
    await raft?.stop();
    await edge?.stop();
    process.env = env;
  }, 60_000);

  const flags = () => {
    const o = deployment.outputs;
    return [
      '--target',
      'localstack',
      '--endpoint',
      edge.endpoint,
      '--stack',
      'NoSuchStack',
      '--ticks-stream',
      o.TicksStreamName as string,
      '--commands-queue-url',
      o.CommandsQueueUrl as string,
      '--commands-dlq-url',
      o.CommandsDlqUrl as string,
      '--events-queue-url',
      o.EventsQueueUrl as string,
      '--events-dlq-url',
      o.EventsDlqUrl as string,
      '--orders-table',
      o.OrdersTableName as string,
      '--raft-members',
      raft.httpUrls.join(','),
    ];
  };

  it('load --direct puts every tick on the stream; verify drains the events and every check holds', async () => {
    process.env.RAFT_AUTH_SECRET = raft.secret!;
    const lines: string[] = [];
    const load = await runLoad(
      [...flags(), '--direct', '--rate', '200', '--seconds', '8', '--symbols', 'AAA,BBB'],
      (l) => lines.push(l),
    );
    expect(load).toMatchObject({ sent: 1600, accepted: 1600, rejected: 0, failed: 0 });

    const code = await runVerify([...flags(), '--data-dir', dataDir, '--settle', '90'], (l) => lines.push(l));
    const out = lines.join('\n');
    if (code !== 0) throw new Error(out);
    expect(out).toMatch(/check: commands: execute's completed claims in the orders table/);
    expect(out).toContain(`verify-localstack`);
    const completed = Number(/completedClaims\s+(\d+)/.exec(out)?.[1]);
    expect(completed).toBeGreaterThan(0);
    expect(out).toMatch(/raftNodesChecked\s+3/);
    expect(out).toMatch(/ordersExecutedTwice\s+0/);
  }, 240_000);

  it('a second verify finds the same events in its record (the queue is drained once)', async () => {
    const lines: string[] = [];
    const code = await runVerify([...flags(), '--data-dir', dataDir, '--settle', '30'], (l) => lines.push(l));
    const out = lines.join('\n');
    if (code !== 0) throw new Error(out);
    expect(Number(/\bevents\s+(\d+)/.exec(out)?.[1])).toBeGreaterThan(0);
  }, 120_000);

  it('a wrong Raft secret is reported, not silently skipped', async () => {
    process.env.RAFT_AUTH_SECRET = 'not-the-secret';
    const lines: string[] = [];
    await expect(runVerify([...flags(), '--data-dir', dataDir, '--settle', '5'], (l) => lines.push(l))).rejects.toThrow(
      /answered 401/,
    );
    process.env.RAFT_AUTH_SECRET = raft.secret!;
  }, 120_000);

  it('says which Raft members it cannot reach (compose names seen from the host) when there is no HTTP API to fall back on', async () => {
    const args = flags();
    args[args.indexOf('--raft-members') + 1] = 'http://raft-n1.invalid:8080';
    await expect(runVerify([...args, '--data-dir', dataDir, '--settle', '5'], () => undefined)).rejects.toThrow(
      /Raft members not reachable from here: http:\/\/raft-n1\.invalid:8080; pass --raft-members/,
    );
  }, 30_000);

  it('says when CloudFormation cannot be asked for the outputs, and rejects an unknown target', async () => {
    const lines: string[] = [];
    await expect(
      runLoad(['--target', 'localstack', '--endpoint', edge.endpoint, '--rate', '1', '--seconds', '1'], (l) =>
        lines.push(l),
      ),
    ).rejects.toThrow(/could not read stack PipelineStack from CloudFormation/);
    await expect(runLoad(['--target', 'gcp', '--rate', '1', '--seconds', '1'], () => undefined)).rejects.toThrow(
      /--target must be embedded, localstack or aws/,
    );
  });
});
