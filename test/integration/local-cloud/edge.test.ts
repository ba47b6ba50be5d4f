import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  FilterLogEventsCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  PutRecordCommand,
} from '@aws-sdk/client-kinesis';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { freePort } from '../../../local-cloud/emulators/child-service';
import { NO_DOCKER_IMAGES, startEdge, type Edge } from '../../../local-cloud/edge';
import { routeRequest } from '../../../local-cloud/edge/routing';
import { toBackendQueueUrl, toEdgeQueueUrl } from '../../../local-cloud/edge/sqs-urls';
import {
  createCloudWatchLogsClient,
  createDynamoDbClient,
  createKinesisClient,
  createSqsClient,
  EMULATOR_CREDENTIALS,
} from '../../../shared/aws/clients';

const run = Math.random().toString(36).slice(2, 8);
const region = 'us-east-1';
/** Clients aimed at the edge explicitly (these tests are about the edge, not the environment). */
const at = (endpoint: string) => ({ endpoint, region, credentials: EMULATOR_CREDENTIALS });

function backendsFromEnv() {
  const get = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: the jest global setup starts the emulators and sets it`);
    return value;
  };
  return {
    kinesis: get('AWS_ENDPOINT_URL_KINESIS'),
    dynamodb: get('AWS_ENDPOINT_URL_DYNAMODB'),
    sqs: get('AWS_ENDPOINT_URL_SQS'),
  };
}

const sign = (service: string) =>
  `AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-2/${service}/aws4_request, SignedHeaders=host, Signature=abc`;

describe('routing by signed service', () => {
  it.each([
    ['kinesis', 'kinesis'],
    ['dynamodb', 'dynamodb'],
    ['streams.dynamodb', 'dynamodb'],
    ['sqs', 'sqs'],
    ['logs', 'logs'],
  ])('credential scope %s → %s', (scope, service) => {
    expect(routeRequest({ authorization: sign(scope) }, '/')).toEqual({
      kind: 'service',
      service,
      region: 'eu-west-2',
    });
  });

  it('falls back to X-Amz-Target, then to a presigned X-Amz-Credential', () => {
    expect(routeRequest({ 'x-amz-target': 'Kinesis_20131202.ListStreams' }, '/')).toEqual({
      kind: 'service',
      service: 'kinesis',
    });
    expect(routeRequest({ 'x-amz-target': 'DynamoDBStreams_20120810.ListStreams' }, '/')).toMatchObject({
      service: 'dynamodb',
    });
    expect(
      routeRequest(
        {},
        '/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fsqs%2Faws4_request',
      ),
    ).toEqual({ kind: 'service', service: 'sqs', region: 'us-east-1' });
  });

  it('names unsupported services and where it read them', () => {
    expect(routeRequest({ authorization: sign('events') }, '/')).toEqual({
      kind: 'unsupported',
      service: 'events',
      source: 'the SigV4 credential scope of the Authorization header',
    });
    expect(routeRequest({ 'x-amz-target': 'AWSEvents.PutRule' }, '/')).toMatchObject({
      kind: 'unsupported',
      service: 'AWSEvents',
    });
    expect(routeRequest({}, '/')).toEqual({ kind: 'unsigned' });
  });
});

describe('queue URL mapping', () => {
  const ctx = { edgeHost: '127.0.0.1:4566', backendEndpoint: 'http://127.0.0.1:9324', region: 'eu-west-1' };
  it('maps fauxqs URLs to the edge and back', () => {
    const fauxqs = 'http://sqs.eu-west-1.127.0.0.1:9324/000000000000/orders.fifo';
    const edge = 'http://127.0.0.1:4566/000000000000/orders.fifo';
    expect(toEdgeQueueUrl(fauxqs, ctx)).toBe(edge);
    expect(toBackendQueueUrl(edge, ctx)).toBe(fauxqs);
    expect(toBackendQueueUrl(fauxqs, ctx)).toBe(fauxqs);
    expect(toBackendQueueUrl('http://elsewhere:1/000000000000/q', ctx)).toBe('http://elsewhere:1/000000000000/q');
  });
});

describe('edge endpoint in front of the emulators', () => {
  let edge: Edge;
  beforeAll(async () => {
    edge = await startEdge({ port: 0, backends: backendsFromEnv() });
  });
  afterAll(async () => {
    await edge.stop();
  });

  it('serves Kinesis (kinesalite)', async () => {
    const kinesis = createKinesisClient(at(edge.endpoint));
    const StreamName = `edge-${run}`;
    await kinesis.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }));
    expect((await kinesis.send(new ListStreamsCommand({}))).StreamNames).toContain(StreamName);
    await kinesis.send(new PutRecordCommand({ StreamName, PartitionKey: 'k', Data: Buffer.from('hello') }));
    const shardId = (await kinesis.send(new DescribeStreamCommand({ StreamName }))).StreamDescription?.Shards?.[0]
      ?.ShardId;
    const { ShardIterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    const records = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
    expect(Buffer.from(records.Records?.[0]?.Data ?? []).toString()).toBe('hello');
    kinesis.destroy();
  });

  it('serves DynamoDB', async () => {
    const ddb = createDynamoDbClient(at(edge.endpoint));
    const TableName = `edge-${run}`;
    await ddb.send(
      new CreateTableCommand({
        TableName,
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await ddb.send(new PutItemCommand({ TableName, Item: { id: { S: 'a' }, v: { N: '1' } } }));
    const got = await ddb.send(new GetItemCommand({ TableName, Key: { id: { S: 'a' } } }));
    expect(got.Item?.v?.N).toBe('1');
    ddb.destroy();
  });

  it('serves SQS (fauxqs) with queue URLs on the edge that work without an explicit endpoint', async () => {
    const sqs = createSqsClient(at(edge.endpoint));
    const QueueName = `edge-${run}.fifo`;
    const created = await sqs.send(
      new CreateQueueCommand({ QueueName, Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' } }),
    );
    expect(created.QueueUrl).toBe(`${edge.endpoint}/000000000000/${QueueName}`);
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName }))).QueueUrl).toBe(created.QueueUrl);
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `edge-${run}` }))).QueueUrls).toEqual([
      created.QueueUrl,
    ]);

    // No endpoint configured: the SDK sends to the queue URL's host, which is the edge.
    const byUrl = new SQSClient({ region, credentials: EMULATOR_CREDENTIALS });
    await byUrl.send(new SendMessageCommand({ QueueUrl: created.QueueUrl, MessageBody: 'm1', MessageGroupId: 'g' }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl: created.QueueUrl, WaitTimeSeconds: 1 }));
    expect(received.Messages?.map((m) => m.Body)).toEqual(['m1']);
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: created.QueueUrl, ReceiptHandle: received.Messages?.[0]?.ReceiptHandle }),
    );
    sqs.destroy();
    byUrl.destroy();
  });

  it('serves CloudWatch Logs in-process', async () => {
    const logs = createCloudWatchLogsClient(at(edge.endpoint));
    const logGroupName = `/aws/lambda/edge-${run}`;
    await logs.send(new CreateLogGroupCommand({ logGroupName }));
    await logs.send(new CreateLogStreamCommand({ logGroupName, logStreamName: 's' }));
    await logs.send(
      new PutLogEventsCommand({
        logGroupName,
        logStreamName: 's',
        logEvents: [{ timestamp: Date.now(), message: 'hi' }],
      }),
    );
    const found = await logs.send(new FilterLogEventsCommand({ logGroupName, filterPattern: 'hi' }));
    expect(found.events?.map((e) => e.message)).toEqual(['hi']);
    logs.destroy();
  });

  it('reports health at the LocalStack path', async () => {
    const res = await fetch(`${edge.endpoint}/_localstack/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { services: Record<string, string> };
    expect(body.services).toEqual({
      kinesis: 'running',
      dynamodb: 'running',
      sqs: 'running',
      sns: 'running',
      logs: 'running',
      sts: 'running',
      ssm: 'running',
      s3: 'running',
      cloudformation: 'running',
      secretsmanager: 'running',
      apigateway: 'running',
      'cognito-idp': 'running',
    });
  });

  it('rejects a service it does not emulate, naming it and the supported ones', async () => {
    const res = await fetch(edge.endpoint, {
      method: 'POST',
      headers: { authorization: sign('iot'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=ListThings',
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(
      /<Code>UnsupportedService<\/Code><Message>the edge does not emulate service &apos;iot&apos;.*supported services: kinesis, dynamodb, sqs, sns, logs, sts, ssm, s3, cloudformation, secretsmanager, apigateway, cognito-idp</,
    );
    const ecr = await fetch(edge.endpoint, {
      method: 'POST',
      headers: { authorization: sign('ecr'), 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.DescribeImages' },
      body: '{}',
    });
    expect(((await ecr.json()) as { message: string }).message).toBe(NO_DOCKER_IMAGES);

    const json = await fetch(edge.endpoint, {
      method: 'POST',
      headers: { authorization: sign('events'), 'x-amz-target': 'AWSEvents.PutRule' },
      body: '{}',
    });
    expect(json.status).toBe(400);
    const body = (await json.json()) as { __type: string; message: string };
    expect(body.__type).toBe('UnsupportedServiceException');
    expect(body.message).toMatch(/'events'/);

    const unsigned = await fetch(edge.endpoint, { method: 'POST', body: '{}' });
    expect(unsigned.status).toBe(400);
    expect(((await unsigned.json()) as { message: string }).message).toMatch(/cannot tell which service/);
  });

  it('translates the SQS query protocol to JSON and back, and names the actions it translates', async () => {
    const query = (body: string) =>
      fetch(edge.endpoint, {
        method: 'POST',
        headers: { authorization: sign('sqs'), 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const created = await query(`Action=CreateQueue&Version=2012-11-05&QueueName=query-${run}`);
    expect(created.status).toBe(200);
    expect(created.headers.get('content-type')).toBe('text/xml');
    expect(await created.text()).toContain(
      `<CreateQueueResult><QueueUrl>${edge.endpoint}/000000000000/query-${run}</QueueUrl></CreateQueueResult>`,
    );
    const missing = await query('Action=GetQueueUrl&QueueName=does-not-exist');
    expect(missing.status).toBe(400);
    expect(await missing.text()).toMatch(
      /<Error><Type>Sender<\/Type><Code>AWS.SimpleQueueService.NonExistentQueue<\/Code><Message>The specified queue does not exist.<\/Message>/,
    );
    const unsupported = await query('Action=ListQueueTags&QueueUrl=x');
    expect(unsupported.status).toBe(400);
    expect(await unsupported.text()).toMatch(
      /<Code>InvalidAction<\/Code><Message>the edge translates only these SQS query-protocol actions: CreateQueue, /,
    );
  });
});

describe('edge with a backend down', () => {
  it('answers 503 ServiceUnavailable naming the backend, so SDK clients retry', async () => {
    const deadPort = await freePort();
    const edge = await startEdge({
      port: 0,
      backends: { ...backendsFromEnv(), kinesis: `http://127.0.0.1:${deadPort}` },
    });
    try {
      const kinesis = createKinesisClient({ ...at(edge.endpoint), maxAttempts: 1 });
      await expect(kinesis.send(new ListStreamsCommand({}))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 503 },
        message: expect.stringMatching(/kinesis backend .* is unreachable/),
      });
      kinesis.destroy();
      const health = (await (await fetch(`${edge.endpoint}/_localstack/health`)).json()) as {
        services: Record<string, string>;
      };
      expect(health.services.kinesis).toBe('unavailable');
    } finally {
      await edge.stop();
    }
  });
});

describe('edge that starts its own emulators', () => {
  // Only kinesalite is started here (the others come from the global setup) to keep the test fast;
  // startEdge starts every backend it is not given the same way.
  it('starts them, keeps their data across restartEmulators, and stops them', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edge-own-'));
    const { dynamodb, sqs } = backendsFromEnv();
    const edge = await startEdge({ port: 0, dataDir, backends: { dynamodb, sqs } });
    try {
      const kinesis = createKinesisClient(at(edge.endpoint));
      await kinesis.send(new CreateStreamCommand({ StreamName: 'kept', ShardCount: 1 }));
      await edge.restartEmulators();
      expect((await kinesis.send(new ListStreamsCommand({}))).StreamNames).toEqual(['kept']);
      kinesis.destroy();
    } finally {
      await edge.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
    const probe = await fetch(edge.backends.kinesis).then(
      () => 'up',
      () => 'down',
    );
    expect(probe).toBe('down');
  }, 60_000);
});
