import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DescribeLogGroupsCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { ListTopicsCommand } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { deployTemplate, type Deployment } from '../../../local-cloud/deploy/deploy';
import { readStack, synthesize } from '../../../local-cloud/deploy/synth';
import { startLocalRuntime } from '../../../local-cloud/runtime';
import { CloudWatchLogSink } from '../../../local-cloud/runtime/log-sink';
import { startLogsEmulator, type RunningLogsEmulator } from '../../../local-cloud/logs-emulator';
import { awsEnv } from './fixtures/runtime-helpers';
import { waitFor } from '../../../shared/util/wait';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  createCloudWatchLogsClient,
  createDocumentClient,
  createDynamoDbClient,
  createKinesisClient,
  createSnsClient,
  createSqsClient,
} from '../../../shared/aws/clients';

const sqs = createSqsClient();
const outdir = mkdtempSync(join(tmpdir(), 'mini-cdk-out-'));
let deployment: Deployment;
let logsEmulator: RunningLogsEmulator;

beforeAll(async () => {
  // CloudWatch Logs is our own emulator (not in the shared test setup): this file starts one for itself.
  logsEmulator = await startLogsEmulator();
  process.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS = logsEmulator.endpoint;
  await synthesize({ appFile: resolve(__dirname, 'fixtures/mini-app/app.ts'), outdir, context: {} });
  deployment = await deployTemplate({
    outdir,
    stack: readStack(outdir, 'MiniStack'),
    environmentOverrides: { RAFT_MEMBERS: 'http://127.0.0.1:1111' },
  });
}, 120_000);
afterAll(async () => {
  sqs.destroy();
  delete process.env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS;
  await logsEmulator.stop();
});

const physical = (prefix: string) => {
  const entry = Object.entries(deployment.resources).find(([id]) => id.startsWith(prefix));
  if (!entry) throw new Error(`no resource ${prefix}`);
  return entry[1].physicalId;
};

describe('local deployer: resources from a synthesized CDK template', () => {
  it('creates the stream, queues with the redrive policy on the local DLQ ARN, and the table with its index and TTL', async () => {
    const kinesis = createKinesisClient();
    const stream = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: physical('Stream') }));
    kinesis.destroy();
    expect(stream.StreamDescriptionSummary?.OpenShardCount).toBe(2);

    const dlqArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: physical('OutDlq'), AttributeNames: ['QueueArn'] }))
    ).Attributes?.QueueArn;
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: physical('OutB8'), AttributeNames: ['All'] }));
    expect(out.Attributes).toMatchObject({ FifoQueue: 'true', VisibilityTimeout: '45' });
    expect(JSON.parse(out.Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: 3,
    });

    const ddb = createDynamoDbClient();
    const table = await ddb.send(new DescribeTableCommand({ TableName: physical('Table') }));
    expect(table.Table?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(table.Table?.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual(['bySymbol']);
    const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: physical('Table') }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe('expiration');
    ddb.destroy();
  });

  it('resolves the function, its environment, mapping and schedule, and names what it does not emulate', () => {
    const fn = Object.values(deployment.functions)[0];
    expect(fn).toMatchObject({
      name: expect.stringMatching(/^MiniStack-Forward/),
      exportName: 'handler',
      timeoutSeconds: 7,
      memoryMb: 192,
      logGroup: `/aws/lambda/${fn?.name}`,
      environment: {
        QUEUE_URL: physical('OutB8'),
        TABLE_NAME: physical('Table'),
        RAFT_MEMBERS: 'http://127.0.0.1:1111',
      },
    });
    expect(fn?.modulePath).toMatch(new RegExp(`^${outdir}/asset\\.[0-9a-f]+/index\\.js$`));
    expect(deployment.kinesisMappings[0]?.spec).toMatchObject({
      streamName: physical('Stream'),
      batchSize: 50,
      maximumBatchingWindowSeconds: 1,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 2,
      reportBatchItemFailures: true,
      onFailureQueueUrl: physical('Failures'),
    });
    expect(deployment.kinesisMappings[0]?.spec.enhancedFanOut).toBeUndefined();
    // The consumer exists only in the deployment (kinesalite has none): its mapping reads the stream as fan-out.
    const streamArn = deployment.kinesisMappings[0]?.spec.streamArn;
    expect(physical('Consumer')).toMatch(new RegExp(`^${streamArn}/consumer/mini:\\d+$`));
    expect(deployment.kinesisMappings[1]?.spec).toMatchObject({
      streamName: physical('Stream'),
      streamArn,
      batchSize: 10,
      enhancedFanOut: true,
    });
    expect(deployment.schedules).toEqual([
      expect.objectContaining({
        expression: 'rate(5 minutes)',
        enabled: true,
        input: '{"at":"<aws.scheduler.scheduled-time>"}',
      }),
    ]);
    expect(deployment.notEmulated.map((r) => r.type).sort()).toEqual(['AWS::CloudWatch::Alarm']);
    expect(deployment.notEnforced.map((r) => r.type)).toContain('AWS::IAM::Role');
  });

  it('creates the SNS topic in the local SNS (fauxqs), its ARN as the Ref', async () => {
    const sns = createSnsClient();
    const { Topics = [] } = await sns.send(new ListTopicsCommand({}));
    sns.destroy();
    expect(physical('Alerts')).toMatch(/^arn:aws:sns:us-east-1:\d{12}:MiniStack-Alerts/);
    expect(Topics.map((t) => t.TopicArn)).toContain(physical('Alerts'));
  });

  it('creates the log group the function logs to, with the template retention', async () => {
    const logs = createCloudWatchLogsClient();
    const name = Object.values(deployment.functions)[0]?.logGroup;
    const groups = await logs.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: name }));
    logs.destroy();
    expect(groups.logGroups?.map((g) => [g.logGroupName, g.retentionInDays])).toEqual([[name, 7]]);
  });

  it('runs the bundled function from the cloud assembly through its Kinesis mapping', async () => {
    const logs = new CloudWatchLogSink({ flushIntervalMs: 100 });
    const runtime = await startLocalRuntime(deployment, { baseEnv: awsEnv(), logs, schedules: false });
    try {
      const kinesis = createKinesisClient();
      await kinesis.send(
        new PutRecordsCommand({
          StreamName: physical('Stream'),
          Records: [{ PartitionKey: 'AAPL', Data: Buffer.from('tick-1') }],
        }),
      );
      kinesis.destroy();
      const message = await waitFor('the forwarded record', 20_000, async () => {
        const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: physical('OutB8'), WaitTimeSeconds: 1 }));
        return r.Messages?.[0];
      });
      expect(JSON.parse(message.Body ?? '{}')).toEqual({ data: 'tick-1', table: physical('Table') });
      // START/END/REPORT and the function's own output, read back through the CloudWatch Logs API.
      const reader = createCloudWatchLogsClient();
      const logGroupName = Object.values(deployment.functions)[0]?.logGroup;
      const events = await waitFor('the REPORT line in CloudWatch Logs', 20_000, async () => {
        const got = await reader.send(new FilterLogEventsCommand({ logGroupName }));
        const messages = (got.events ?? []).map((e) => e.message ?? '');
        return messages.some((m) => m.startsWith('REPORT RequestId:')) ? got.events : undefined;
      });
      reader.destroy();
      const messages = events?.map((e) => e.message ?? '') ?? [];
      const start = messages.findIndex((m) => m.startsWith('START RequestId:'));
      const output = messages.findIndex((m) => m.includes('\tINFO\tforwarded 1 record(s)'));
      const end = messages.findIndex((m) => m.startsWith('END RequestId:'));
      expect(start).toBeGreaterThanOrEqual(0);
      expect(output).toBeGreaterThan(start);
      expect(end).toBeGreaterThan(output);
      expect(events?.[0]?.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    } finally {
      await runtime.stop();
      await logs.close();
    }
  }, 60_000);

  it("a second deploy of a changed template makes an existing table's indexes the template's (one added, one dropped)", async () => {
    const stack = readStack(outdir, 'MiniStack');
    const [tableId, table] = Object.entries(stack.template.Resources).find(([id]) => id.startsWith('Table'))!;
    const props = table.Properties as Record<string, unknown[]>;
    const changed = structuredClone(stack.template);
    // As OrdersTable's upgrade did: an index the table was not created with (and, here, one it loses).
    Object.assign(changed.Resources[tableId]!.Properties as object, {
      AttributeDefinitions: [
        ...props.AttributeDefinitions!.filter((a) => (a as { AttributeName: string }).AttributeName !== 'symbol'),
        { AttributeName: 'account', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byAccount',
          KeySchema: [{ AttributeName: 'account', KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
    const overrides = { RAFT_MEMBERS: 'http://127.0.0.1:1111' };
    const indexes = async () => {
      const ddb = createDynamoDbClient();
      const out = await ddb.send(new DescribeTableCommand({ TableName: physical('Table') }));
      ddb.destroy();
      return out.Table?.GlobalSecondaryIndexes?.map((g) => [g.IndexName, g.IndexStatus]);
    };
    await deployTemplate({ outdir, stack: { ...stack, template: changed }, environmentOverrides: overrides });
    expect(await indexes()).toEqual([['byAccount', 'ACTIVE']]);
    const documents = createDocumentClient();
    await documents.send(new PutCommand({ TableName: physical('Table'), Item: { id: 'i-1', account: 'A1' } }));
    const found = await documents.send(
      new QueryCommand({
        TableName: physical('Table'),
        IndexName: 'byAccount',
        KeyConditionExpression: 'account = :a',
        ExpressionAttributeValues: { ':a': 'A1' },
      }),
    );
    expect(found.Items).toEqual([{ id: 'i-1', account: 'A1' }]);
    // And back: the template as synthesized.
    await deployTemplate({ outdir, stack, environmentOverrides: overrides });
    expect(await indexes()).toEqual([['bySymbol', 'ACTIVE']]);
  }, 120_000);
});
