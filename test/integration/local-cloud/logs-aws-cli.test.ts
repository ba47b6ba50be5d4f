import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startEdge, type Edge } from '../../../local-cloud/edge';
import { cliEnv, findAwsClis, runAwsCli, type AwsCli } from '../../support/aws-cli';
import { emulatorBackends } from './fixtures/runtime-helpers';

/**
 * The real AWS CLIs against the edge endpoint, unchanged but for --endpoint-url (see test/support/aws-cli.ts for
 * which ones are probed). Skipped, with the reason printed, when none is installed; `aws logs tail` exists only in
 * AWS CLI v2, so that case is skipped without one.
 */
const clis = findAwsClis();
const mainCli = clis[0];
const hasTail = mainCli?.major === 2;
if (!mainCli) {
  console.warn(
    'logs-aws-cli.test: no AWS CLI is installed (no /usr/bin/aws, no `aws` on PATH); skipping the CLI tests',
  );
} else if (!hasTail) {
  console.warn(
    `logs-aws-cli.test: ${mainCli.versionText} has no \`aws logs tail\` (AWS CLI v2 only); skipping that test`,
  );
}
const describeCli = mainCli ? describe : describe.skip;
const itTail = hasTail ? it : it.skip;

const run = Math.random().toString(36).slice(2, 8);
// Each test runs the real AWS CLI 5–10 times, and each run starts Python and botocore (1–3 s on a loaded 2-core
// machine): jest's 30 s default was exceeded once in CI under load.
jest.setTimeout(120_000);

describeCli('AWS CLI through the edge endpoint', () => {
  let edge: Edge;
  const env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    edge = await startEdge({ port: 0, backends: emulatorBackends() });
    Object.assign(env, cliEnv());
  });
  afterAll(async () => {
    await edge.stop();
  });

  const aws = async (...args: string[]): Promise<string> =>
    (await runAwsCli(mainCli as AwsCli, edge.endpoint, args, env)).stdout;
  const awsJson = async <T>(...args: string[]): Promise<T> => JSON.parse(await aws(...args)) as T;

  const group = `/aws/lambda/cli-${run}`;

  it('logs: create-log-group, create-log-stream, put-log-events, get/filter-log-events, describe-*', async () => {
    await aws('logs', 'create-log-group', '--log-group-name', group);
    await aws('logs', 'create-log-stream', '--log-group-name', group, '--log-stream-name', 'main');
    const now = Date.now();
    const events = JSON.stringify([
      { timestamp: now - 2000, message: '{"level":"INFO","qty":5}' },
      { timestamp: now - 1000, message: '{"level":"ERROR","qty":500}' },
      { timestamp: now, message: 'END RequestId: r-1' },
    ]);
    await aws('logs', 'put-log-events', '--log-group-name', group, '--log-stream-name', 'main', '--log-events', events);

    // Independent reads run side by side: each CLI start costs seconds of Python start-up.
    const [filtered, got, groups, streams] = await Promise.all([
      awsJson<{ events: { message: string }[] }>(
        'logs',
        'filter-log-events',
        '--log-group-name',
        group,
        '--filter-pattern',
        '{ $.level = "ERROR" && $.qty > 100 }',
        // what `aws logs tail` sends on every poll
        '--interleaved',
        '--start-time',
        String(now - 60_000),
      ),
      awsJson<{ events: { message: string }[] }>(
        'logs',
        'get-log-events',
        '--log-group-name',
        group,
        '--log-stream-name',
        'main',
        '--start-from-head',
      ),
      awsJson<{ logGroups: { logGroupName: string }[] }>(
        'logs',
        'describe-log-groups',
        '--log-group-name-prefix',
        group,
      ),
      awsJson<{ logStreams: { logStreamName: string; lastEventTimestamp: number }[] }>(
        'logs',
        'describe-log-streams',
        '--log-group-name',
        group,
        '--order-by',
        'LastEventTime',
        '--descending',
      ),
      expect(aws('logs', 'create-log-group', '--log-group-name', group)).rejects.toThrow(
        /ResourceAlreadyExistsException/,
      ),
    ]);
    expect(filtered.events.map((e) => e.message)).toEqual(['{"level":"ERROR","qty":500}']);
    expect(got.events.map((e) => e.message)).toHaveLength(3);
    expect(groups.logGroups.map((g) => g.logGroupName)).toEqual([group]);
    expect(streams.logStreams).toEqual([expect.objectContaining({ logStreamName: 'main', lastEventTimestamp: now })]);
  });

  itTail('logs tail prints the events (AWS CLI v2)', async () => {
    const out = await aws('logs', 'tail', group, '--since', '1h', '--format', 'short');
    expect(out).toMatch(/END RequestId: r-1/);
  });

  it('kinesis list-streams, dynamodb list-tables, sqs create-queue/list-queues/send/receive; events (EventBridge) is named unsupported', async () => {
    const [streams, tables, created] = await Promise.all([
      awsJson<{ StreamNames: string[] }>('kinesis', 'list-streams'),
      awsJson<{ TableNames: string[] }>('dynamodb', 'list-tables'),
      awsJson<{ QueueUrl: string }>('sqs', 'create-queue', '--queue-name', `cli-${run}`),
      expect(aws('events', 'list-rules')).rejects.toThrow(/UnsupportedService.*does not emulate service 'events'/),
    ]);
    expect(Array.isArray(streams.StreamNames)).toBe(true);
    expect(Array.isArray(tables.TableNames)).toBe(true);
    expect(created.QueueUrl).toBe(`${edge.endpoint}/000000000000/cli-${run}`);
    const [listed] = await Promise.all([
      awsJson<{ QueueUrls: string[] }>('sqs', 'list-queues', '--queue-name-prefix', `cli-${run}`),
      aws('sqs', 'send-message', '--queue-url', created.QueueUrl, '--message-body', 'from the cli'),
    ]);
    expect(listed.QueueUrls).toEqual([created.QueueUrl]);
    const received = await awsJson<{ Messages: { Body: string }[] }>(
      'sqs',
      'receive-message',
      '--queue-url',
      created.QueueUrl,
      '--wait-time-seconds',
      '1',
    );
    expect(received.Messages.map((m) => m.Body)).toEqual(['from the cli']);
  });
});

/**
 * Current CLIs speak JSON to SQS; CLIs from before AWS's switch (Debian bookworm's awscli 2.9 among them) speak
 * the query protocol. To drive the edge's query translation with a real botocore client, a v1 CLI gets its own SQS
 * model written back in its query form (protocol, result wrappers, flattened element names) into an AWS_DATA_PATH
 * folder, which botocore reads before its bundled models.
 */
function writeQueryProtocolSqsModel(cliBotocore: string, dir: string): string | undefined {
  const python = spawnSync(
    'python3',
    ['-c', 'import botocore, os; print(botocore.__version__); print(os.path.dirname(botocore.__file__))'],
    { encoding: 'utf8' },
  );
  const [version, root] = (python.stdout ?? '').trim().split('\n');
  if (version !== cliBotocore || !root) return `python3 does not import the CLI's botocore ${cliBotocore}`;
  const modelPath = join(root, 'data/sqs/2012-11-05/service-2.json');
  let raw: Buffer;
  if (existsSync(`${modelPath}.gz`)) raw = gunzipSync(readFileSync(`${modelPath}.gz`));
  else if (existsSync(modelPath)) raw = readFileSync(modelPath);
  else return `no SQS model under ${root}`;
  type Member = { shape: string; locationName?: string };
  type Shape = { type: string; members?: Record<string, Member>; key?: Member; value?: Member; flattened?: boolean };
  const model = JSON.parse(raw.toString('utf8')) as {
    metadata: Record<string, unknown>;
    operations: Record<string, { name: string; output?: { resultWrapper?: string } }>;
    shapes: Record<string, Shape>;
  };
  model.metadata.protocol = 'query';
  model.metadata.protocols = ['query'];
  for (const key of ['awsQueryCompatible', 'jsonVersion', 'targetPrefix']) delete model.metadata[key];
  for (const op of Object.values(model.operations)) if (op.output) op.output.resultWrapper = `${op.name}Result`;
  const elementName: Record<string, string> = {
    Attributes: 'Attribute',
    MessageAttributes: 'MessageAttribute',
    MessageSystemAttributes: 'MessageSystemAttribute',
    AttributeNames: 'AttributeName',
    MessageAttributeNames: 'MessageAttributeName',
    MessageSystemAttributeNames: 'MessageSystemAttributeName',
    tags: 'Tag',
    Tags: 'Tag',
    QueueUrls: 'QueueUrl',
    queueUrls: 'QueueUrl',
    Messages: 'Message',
  };
  for (const shape of Object.values(model.shapes)) {
    for (const [name, member] of Object.entries(shape.members ?? {})) {
      if (elementName[name] && model.shapes[member.shape]?.flattened) member.locationName = elementName[name];
    }
    if (shape.type === 'map' && shape.key && shape.value) {
      shape.key.locationName = shape.key.shape.startsWith('Tag') ? 'Key' : 'Name';
      shape.value.locationName = 'Value';
    }
  }
  const out = join(dir, 'sqs/2012-11-05');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'service-2.json'), JSON.stringify(model));
  return undefined;
}

/** A CLI that speaks SQS's query protocol: Debian's 2.9 as it is, or a v1 whose model can be rewritten. */
function queryProtocolCli(): { cli?: AwsCli; dataPath?: string; problem?: string } {
  const native = clis.find((c) => c.major === 2 && c.minor <= 9);
  if (native) return { cli: native };
  const v1 = clis.find((c) => c.major === 1 && c.botocore);
  if (!v1?.botocore) return { problem: 'no AWS CLI v2 ≤ 2.9 and no v1 CLI reporting its botocore' };
  const dataPath = mkdtempSync(join(tmpdir(), 'sqs-query-model-'));
  const problem = writeQueryProtocolSqsModel(v1.botocore, dataPath);
  if (!problem) return { cli: v1, dataPath };
  rmSync(dataPath, { recursive: true, force: true });
  return { problem };
}
const queryCli = queryProtocolCli();
if (queryCli.problem) console.warn(`logs-aws-cli.test: skipping the SQS query-protocol CLI test: ${queryCli.problem}`);
const describeQueryCli = queryCli.cli ? describe : describe.skip;

describeQueryCli('AWS CLI speaking the SQS query protocol through the edge', () => {
  let edge: Edge;
  const env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    edge = await startEdge({ port: 0, backends: emulatorBackends() });
    Object.assign(env, cliEnv(queryCli.dataPath ? { AWS_DATA_PATH: queryCli.dataPath } : {}));
  });
  afterAll(async () => {
    await edge.stop();
    if (queryCli.dataPath) rmSync(queryCli.dataPath, { recursive: true, force: true });
  });

  const aws = async (...args: string[]): Promise<string> => {
    const { stdout, stderr } = await runAwsCli(queryCli.cli as AwsCli, edge.endpoint, args, env, { debug: true });
    // --debug shows the wire format: the request must really be form-encoded (query protocol)
    if (!/x-www-form-urlencoded/.test(stderr)) throw new Error(`aws ${args.join(' ')} did not use the query protocol`);
    return stdout;
  };

  it('create-queue, send/receive/delete-message, get-queue-attributes, purge-queue, and errors', async () => {
    const created = JSON.parse(
      await aws('sqs', 'create-queue', '--queue-name', `query-${run}`, '--attributes', '{"VisibilityTimeout":"20"}'),
    ) as { QueueUrl: string };
    expect(created.QueueUrl).toBe(`${edge.endpoint}/000000000000/query-${run}`);
    const [attributes, sent] = await Promise.all([
      aws('sqs', 'get-queue-attributes', '--queue-url', created.QueueUrl, '--attribute-names', 'All'),
      aws(
        'sqs',
        'send-message',
        '--queue-url',
        created.QueueUrl,
        '--message-body',
        'a <b> & "c"',
        '--message-attributes',
        '{"k":{"DataType":"String","StringValue":"v"}}',
      ),
    ]);
    expect((JSON.parse(attributes) as { Attributes: Record<string, string> }).Attributes.VisibilityTimeout).toBe('20');
    expect(JSON.parse(sent)).toHaveProperty('MD5OfMessageBody'); // the CLI checked it against the body
    const received = JSON.parse(
      await aws('sqs', 'receive-message', '--queue-url', created.QueueUrl, '--message-attribute-names', 'All'),
    ) as {
      Messages: { Body: string; ReceiptHandle: string; MessageAttributes: Record<string, { StringValue: string }> }[];
    };
    expect(received.Messages.map((m) => [m.Body, m.MessageAttributes.k?.StringValue])).toEqual([['a <b> & "c"', 'v']]);
    await Promise.all([
      aws(
        'sqs',
        'delete-message',
        '--queue-url',
        created.QueueUrl,
        '--receipt-handle',
        received.Messages[0]?.ReceiptHandle as string,
      ),
      aws('sqs', 'purge-queue', '--queue-url', created.QueueUrl),
      expect(aws('sqs', 'get-queue-url', '--queue-name', `missing-${run}`)).rejects.toThrow(
        /AWS.SimpleQueueService.NonExistentQueue/,
      ),
    ]);
  });
});
