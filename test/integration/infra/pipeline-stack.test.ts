import { rmSync } from 'node:fs';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadAdminConfig } from '../../../functions/admin/config';
import { loadApiConfig } from '../../../functions/api/config';
import { loadOrdersConfig } from '../../../functions/orders/config';
import { loadExecuteConfig } from '../../../functions/execute/config';
import { loadIngestConfig } from '../../../functions/ingest/config';
import { loadMarketDataApiConfig } from '../../../functions/market-data-api/config';
import { loadMarketDataConfig } from '../../../functions/market-data/config';
import { loadProcessConfig } from '../../../functions/process/config';
import { composeRaftMembers } from '../../../infra/config';
import { encodeScopedKey, scopedKey } from '../../../shared/ledger-contract/auth';
import { FUNCTION_NAMES, pascal } from '../../../infra/constructs/pipeline-function';
import {
  actionsOf,
  assemblyDir,
  buildTradingApp,
  nagSuppressions,
  policyStatementsByRole,
  unresolvedNagFindings,
  type PolicyStatementJson,
} from './app-harness';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string }>;

// One app per target, built once (constructing it bundles the functions).
const outdir = assemblyDir();
const aws = buildTradingApp({ target: 'aws' }, outdir);
const awsTemplate = Template.fromStack(aws.pipeline);
const LOCAL_SECRET = 'local-compose-secret-0123456789';
const local = buildTradingApp(
  {
    target: 'localstack',
    raftAuthSecret: LOCAL_SECRET,
    // CLI-style string values: every tunable comes from context.
    shardCount: '2',
    kinesisBatchSize: '50',
    kinesisBatchingWindowSeconds: '0',
    kinesisRetryAttempts: '3',
    kinesisMaxRecordAgeSeconds: '600',
    kinesisParallelizationFactor: '2',
    maxReceiveCount: '3',
    logRetentionDays: '7',
    feedEnabled: 'false',
    feedSymbols: 'AAPL, TSLA',
    executeTimeoutSeconds: '20',
  },
  outdir,
);
const localTemplate = Template.fromStack(local.pipeline);
// The throughput knobs set explicitly: enhanced fan-out on (the aws default too), high-throughput FIFO off.
// Also the first deploy of a two-step upgrade (orderHistoryIndexes=by-account): tuning and staging share one synth.
const tuned = buildTradingApp(
  { target: 'aws', kinesisEnhancedFanOut: 'true', fifoHighThroughput: 'false', orderHistoryIndexes: 'by-account' },
  outdir,
);
const tunedTemplate = Template.fromStack(tuned.pipeline);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Each ledger-reaching function and the scoped key secret it holds (logical id prefix). */
const OWN_KEYS = {
  ExecuteFunction: 'RaftClientKeysOrdersWrite',
  ApiFunction: 'RaftClientKeysRead',
  OrdersFunction: 'RaftClientKeysOrdersWrite',
  AdminFunction: 'RaftClientKeysAdmin',
  // order.cancel over the WebSocket needs orders:write (which reads too, for order.status).
  WsConnectionFunction: 'RaftClientKeysOrdersWrite',
} as const;

const FUNCTION_IDS = FUNCTION_NAMES.map((name) => `${pascal(name)}Function`);

function functionProps(template: Template, logicalId: string): Record<string, unknown> {
  const resource = (template.toJSON().Resources as Resources)[logicalId];
  if (!resource) throw new Error(`no ${logicalId} in the template`);
  return resource.Properties;
}
function environmentOf(template: Template, logicalId: string): Record<string, unknown> {
  return (functionProps(template, logicalId).Environment as { Variables: Record<string, unknown> }).Variables;
}
function statementsOf(template: Template, functionLogicalId: string): PolicyStatementJson[] {
  const role = functionProps(template, functionLogicalId).Role as { 'Fn::GetAtt': [string, string] };
  return policyStatementsByRole(template).get(role['Fn::GetAtt'][0]) ?? [];
}
const actionsIn = (statements: PolicyStatementJson[]) => statements.flatMap(actionsOf).sort();
const grantsOn = (statements: PolicyStatementJson[], resourceLogicalId: string) =>
  statements.filter((statement) => JSON.stringify(statement.Resource).includes(`"${resourceLogicalId}"`));

describe('PipelineStack (target aws, Raft cluster deployed by the app)', () => {
  it('has the encrypted Kinesis stream with the configured shard count', () => {
    awsTemplate.resourceCountIs('AWS::Kinesis::Stream', 1);
    awsTemplate.hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 1,
      RetentionPeriodHours: 24,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
    expect(awsTemplate.toJSON().Resources).toHaveProperty('TicksStream');
  });

  it.each([
    ['CommandsQueue', 'CommandsDlq', 180],
    ['EventsQueue', 'EventsDlq', 30],
  ])('%s is an encrypted high-throughput FIFO queue redriving to the FIFO %s', (queue, dlq, visibility) => {
    const resources = awsTemplate.toJSON().Resources as Resources;
    const highThroughputFifo = {
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      SqsManagedSseEnabled: true,
    };
    expect(resources[queue]?.Properties).toMatchObject({
      ...highThroughputFifo,
      VisibilityTimeout: visibility,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(resources[dlq]?.Properties).toMatchObject({ ...highThroughputFifo, MessageRetentionPeriod: 1_209_600 });
    expect(resources[dlq]?.Properties).not.toHaveProperty('RedrivePolicy');
  });

  it('has the standard ProcessFailureQueue for the Kinesis mapping, and every queue refuses plain HTTP', () => {
    const resources = awsTemplate.toJSON().Resources as Resources;
    expect(resources.ProcessFailureQueue?.Properties).toMatchObject({ SqsManagedSseEnabled: true });
    expect(resources.ProcessFailureQueue?.Properties).not.toHaveProperty('FifoQueue');
    awsTemplate.resourceCountIs('AWS::SQS::Queue', 10);
    const policies = awsTemplate.findResources('AWS::SQS::QueuePolicy');
    expect(Object.keys(policies)).toHaveLength(10);
    for (const policy of Object.values(policies)) {
      expect(policy.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      );
    }
  });

  it('fans order events out through an SNS FIFO topic to raw-delivery FIFO subscriptions (verify, notifier)', () => {
    awsTemplate.hasResourceProperties('AWS::SNS::Topic', {
      FifoTopic: true,
      ContentBasedDeduplication: false,
      FifoThroughputScope: 'MessageGroup',
      TopicName: Match.stringLikeRegexp('\\.fifo$'),
      KmsMasterKeyId: Match.anyValue(),
    });
    const subscriptions = Object.values(awsTemplate.findResources('AWS::SNS::Subscription'));
    expect(
      subscriptions
        .map((s) => s.Properties.Endpoint)
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([{ 'Fn::GetAtt': ['EventsQueue', 'Arn'] }, { 'Fn::GetAtt': ['WsOrderEventsQueue', 'Arn'] }]);
    for (const s of subscriptions) {
      expect(s.Properties).toMatchObject({
        Protocol: 'sqs',
        RawMessageDelivery: true,
        TopicArn: { Ref: 'EventsTopic' },
      });
    }
    // Execute sends its orders' live updates itself, and marks their events: the notifier's queue leaves those out,
    // the events queue takes every event.
    const filterOf = (queue: string) =>
      subscriptions.find((s) => JSON.stringify(s.Properties.Endpoint).includes(`"${queue}"`))?.Properties.FilterPolicy;
    expect(filterOf('EventsQueue')).toBeUndefined();
    expect(filterOf('WsOrderEventsQueue')).toEqual({ liveForwarded: [{ exists: false }] });
    // SNS may send to the subscribed queues (and only from this topic).
    for (const queue of ['EventsQueue', 'WsOrderEventsQueue']) {
      const policy = Object.values(awsTemplate.findResources('AWS::SQS::QueuePolicy')).find((p) =>
        JSON.stringify(p.Properties.Queues).includes(`"${queue}"`),
      );
      expect(policy?.Properties.PolicyDocument.Statement).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: 'sqs:SendMessage',
            Principal: { Service: 'sns.amazonaws.com' },
            Condition: { ArnEquals: { 'aws:SourceArn': { Ref: 'EventsTopic' } } },
          }),
        ]),
      );
    }
  });

  it('keeps the order history in OrdersTable: the ByAccount and BySymbol indexes, kept 90 days by default', () => {
    const resource = (awsTemplate.toJSON().Resources as Resources).OrdersTable;
    const index = (IndexName: string, partition: string) => ({
      IndexName,
      KeySchema: [
        { AttributeName: partition, KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    });
    expect(resource?.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [index('ByAccount', 'account'), index('BySymbol', 'accountSymbol')],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
    });
    // Every writer of execution records keeps them for the history's retention.
    for (const fn of ['ExecuteFunction', 'OrdersFunction', 'WsConnectionFunction']) {
      expect(environmentOf(awsTemplate, fn)).toMatchObject({ ORDER_HISTORY_RETENTION_DAYS: '90' });
    }
    expect(Object.keys(awsTemplate.findResources('AWS::DynamoDB::Table'))).not.toContain('OrderHistoryTable');
    expect(environmentOf(awsTemplate, 'ApiFunction')).toMatchObject({ ORDER_HISTORY_BY_SYMBOL: 'true' });
  });

  it('stages an upgrade: orderHistoryIndexes=by-account adds ByAccount only (CloudFormation adds one index per update)', () => {
    const resource = (tunedTemplate.toJSON().Resources as Resources).OrdersTable;
    expect((resource?.Properties.GlobalSecondaryIndexes as { IndexName: string }[]).map((g) => g.IndexName)).toEqual([
      'ByAccount',
    ]);
    expect(environmentOf(tunedTemplate, 'ApiFunction')).toMatchObject({ ORDER_HISTORY_BY_SYMBOL: 'false' });
    const queried = statementsOf(tunedTemplate, 'ApiFunction').filter((s) => actionsOf(s).includes('dynamodb:Query'));
    expect(JSON.stringify(queried)).toContain('/index/ByAccount');
    expect(JSON.stringify(queried)).not.toContain('/index/BySymbol');
  });

  it.each([
    ['OrdersTable', 'id', 'expiration'],
    ['StrategyStateTable', 'symbol', undefined],
  ])('%s: on-demand, PITR, encrypted, pk %s, TTL %s, retained on aws', (table, key, ttl) => {
    const resource = (awsTemplate.toJSON().Resources as Resources)[table];
    expect(resource?.DeletionPolicy).toBe('Retain');
    expect(resource?.Properties).toMatchObject({
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
      // The key first; OrdersTable's history indexes add theirs (the test above).
      AttributeDefinitions: expect.arrayContaining([{ AttributeName: key, AttributeType: 'S' }]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    if (ttl) {
      expect(resource?.Properties.TimeToLiveSpecification).toEqual({ AttributeName: ttl, Enabled: true });
    } else {
      expect(resource?.Properties).not.toHaveProperty('TimeToLiveSpecification');
    }
  });

  it('defines the functions: nodejs22.x on arm64, bundled, with their own log group and retention', () => {
    awsTemplate.resourceCountIs('AWS::Lambda::Function', FUNCTION_NAMES.length);
    const resources = awsTemplate.toJSON().Resources as Resources;
    for (const [index, logicalId] of FUNCTION_IDS.entries()) {
      const props = functionProps(awsTemplate, logicalId);
      expect(props).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        MemorySize: 256,
      });
      const logGroupId = (props.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[logGroupId]?.Type).toBe('AWS::Logs::LogGroup');
      expect(resources[logGroupId]?.Properties.RetentionInDays).toBe(14);
      expect(environmentOf(awsTemplate, logicalId)).toMatchObject({
        POWERTOOLS_SERVICE_NAME: FUNCTION_NAMES[index],
        POWERTOOLS_METRICS_NAMESPACE: 'TradingPipeline',
        LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      });
    }
    expect(functionProps(awsTemplate, 'IngestFunction').Timeout).toBe(60);
    expect(functionProps(awsTemplate, 'ExecuteFunction').Timeout).toBe(30);
  });

  it('gives each function the environment of its contract', () => {
    expect(environmentOf(awsTemplate, 'IngestFunction')).toMatchObject({
      TICKS_STREAM_NAME: { Ref: 'TicksStream' },
      FEED_SYMBOLS: 'AAPL,MSFT,AMZN',
      FEED_TICKS_PER_SECOND: '5',
      FEED_SEED: '42',
    });
    expect(environmentOf(awsTemplate, 'ProcessFunction')).toMatchObject({
      STRATEGY_TABLE_NAME: { Ref: 'StrategyStateTable' },
      COMMANDS_QUEUE_URL: { Ref: 'CommandsQueue' },
      FAILURE_QUEUE_URL: { Ref: 'ProcessFailureQueue' },
      STRATEGY_FAST_WINDOW: '5',
      STRATEGY_SLOW_WINDOW: '20',
      STRATEGY_ORDER_QUANTITY: '10',
      TRADING_ACCOUNT: 'strategy-1',
    });
    const members = 'http://n1.raft.internal:8080,http://n2.raft.internal:8080,http://n3.raft.internal:8080';
    const execute = environmentOf(awsTemplate, 'ExecuteFunction');
    expect(execute).toMatchObject({
      ORDERS_TABLE_NAME: { Ref: 'OrdersTable' },
      ORDER_HISTORY_RETENTION_DAYS: '90',
      EVENTS_TOPIC_ARN: { Ref: 'EventsTopic' },
      ACCOUNT_UPDATES_QUEUE_URL: { Ref: 'WsAccountUpdatesQueue' },
      RAFT_MEMBERS: members,
      RAFT_REQUEST_TIMEOUT_MS: '3000',
    });
    const api = environmentOf(awsTemplate, 'ApiFunction');
    expect(api).toMatchObject({
      ORDERS_TABLE_NAME: { Ref: 'OrdersTable' },
      RAFT_MEMBERS: members,
    });
    // Each function gets its own scope's key secret, never the root secret (nor its ARN).
    const keyArn = (scope: string) => ({
      'Fn::ImportValue': Match.stringLikeRegexp(`^RaftClusterStack:.*RaftClientKeys${scope}`),
    });
    for (const [env, scope] of [
      [execute, 'OrdersWrite'],
      [api, 'Read'],
      [environmentOf(awsTemplate, 'OrdersFunction'), 'OrdersWrite'],
      [environmentOf(awsTemplate, 'AdminFunction'), 'Admin'],
    ] as const) {
      expect(env).toMatchObject({ RAFT_CLIENT_KEY_ARN: expect.anything(), RAFT_CLIENT_KEY_REVISION: '1' });
      expect(Match.objectLike({ RAFT_CLIENT_KEY_ARN: keyArn(scope) }).test(env).isSuccess).toBe(true);
      expect(Object.keys(env).filter((name) => name.startsWith('RAFT_AUTH_SECRET'))).toEqual([]);
    }
  });

  it('lets execute and api read only their own scoped key: no other key, never the root or peer secret', () => {
    const own = OWN_KEYS;
    for (const [logicalId, key] of Object.entries(own)) {
      const secretStatements = statementsOf(awsTemplate, logicalId).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('secretsmanager:')),
      );
      expect(secretStatements).toHaveLength(1);
      const [statement] = secretStatements;
      expect(actionsOf(statement!).sort()).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
      expect(JSON.stringify(statement!.Resource)).toMatch(new RegExp(`RaftClusterStack:ExportsOutputRef${key}`));
    }
    // No role of this stack may read the root or peer secret, or the other key.
    const everything = JSON.stringify(awsTemplate.toJSON());
    expect(everything).not.toMatch(/RaftAuthSecret|RaftPeerSecret/);
    for (const logicalId of ['IngestFunction', 'ProcessFunction']) {
      expect(actionsIn(statementsOf(awsTemplate, logicalId)).filter((a) => a.startsWith('secretsmanager:'))).toEqual(
        [],
      );
    }
  });

  it('places execute and api in the Raft VPC with the client security group; ingest and process stay out', () => {
    for (const logicalId of ['ExecuteFunction', 'ApiFunction']) {
      const vpcConfig = functionProps(awsTemplate, logicalId).VpcConfig as Record<string, unknown[]>;
      expect(JSON.stringify(vpcConfig.SecurityGroupIds)).toMatch(/RaftClientSecurityGroup/);
      expect(vpcConfig.SubnetIds).toHaveLength(2);
      expect(JSON.stringify(vpcConfig.SubnetIds)).toMatch(/Vpcprivate/);
    }
    for (const logicalId of ['IngestFunction', 'ProcessFunction']) {
      expect(functionProps(awsTemplate, logicalId)).not.toHaveProperty('VpcConfig');
    }
  });

  it('maps the stream to process with bisect, retries until the record age limit, on-failure queue and partial failures', () => {
    // process, execute and market-data; the WebSocket notifier's three (test/integration/infra/live-delivery.test.ts).
    awsTemplate.resourceCountIs('AWS::Lambda::EventSourceMapping', 6);
    awsTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: 'ProcessFunction' },
      // Through process's enhanced fan-out consumer, the default on aws (the fan-out tests below).
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('Consumer'), 'ConsumerARN'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      // No batching window: AWS counts it in whole seconds, and one second is four times the p99 latency target.
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: true,
      // Retried until the record age limit (AWS's default, -1): process sets poison aside itself, so a batch fails
      // only on what a retry can fix, and giving up on it would lose acknowledged ticks.
      MaximumRetryAttempts: Match.absent(),
      MaximumRecordAgeInSeconds: 3600,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['ProcessFailureQueue', 'Arn'] } } },
    });
  });

  it('names the main resources after the architecture', () => {
    const resources = awsTemplate.toJSON().Resources as Resources;
    for (const logicalId of [
      'TicksStream',
      'CommandsQueue',
      'CommandsDlq',
      'EventsQueue',
      'EventsDlq',
      'EventsTopic',
      'ProcessFailureQueue',
      'OrdersTable',
      'StrategyStateTable',
      ...FUNCTION_IDS,
      'IngestLogGroup',
      'ProcessTicksMapping',
      'ExecuteCommandsMapping',
      'HttpApi',
      'HttpApiStage',
      'FeedSchedule',
    ]) {
      expect(resources).toHaveProperty(logicalId);
    }
  });

  it('maps the commands queue to execute in batches of 10 with partial batch failures', () => {
    awsTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: 'ExecuteFunction' },
      EventSourceArn: { 'Fn::GetAtt': ['CommandsQueue', 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('serves the HTTP API with every route authorized: IAM (POST /ticks never open), or the user pool for people', () => {
    // The WebSocket API is LiveDelivery's (test/integration/infra/live-delivery.test.ts).
    const ofHttpApi = { Properties: { ApiId: { Ref: 'HttpApi' } } };
    awsTemplate.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    const routes = Object.values(awsTemplate.findResources('AWS::ApiGatewayV2::Route', ofHttpApi));
    expect(routes.map((route) => route.Properties.RouteKey).sort()).toEqual(
      [
        'DELETE /orders/{orderId}',
        'GET /admin/cluster',
        'GET /candles',
        'GET /health',
        'GET /orders',
        'GET /orders/{orderId}',
        'GET /positions',
        'GET /ticks',
        'POST /admin/halt',
        'POST /admin/resume',
        'POST /orders',
        'POST /ticks',
        'PUT /admin/limits',
      ]
        .concat(['GET /operator/cluster', 'POST /operator/halt', 'POST /operator/resume', 'PUT /operator/limits'])
        .sort(),
    );
    const authorization = Object.fromEntries(
      routes.map((r) => [r.Properties.RouteKey, r.Properties.AuthorizationType]),
    );
    expect(authorization['POST /ticks']).toBe('AWS_IAM');
    expect(authorization['GET /health']).toBe('AWS_IAM');
    expect(authorization['GET /orders/{orderId}']).toBe('JWT');
    // Order entry is for people (JWT); the operator routes are IAM (the admin function checks isAdmin too).
    expect(authorization['POST /orders']).toBe('JWT');
    expect(authorization['DELETE /orders/{orderId}']).toBe('JWT');
    for (const key of ['POST /admin/halt', 'POST /admin/resume', 'PUT /admin/limits', 'GET /admin/cluster']) {
      expect(authorization[key]).toBe('AWS_IAM');
      // The same operation for admin-group users (the console): the user pool's JWT.
      expect(authorization[key.replace('/admin/', '/operator/')]).toBe('JWT');
    }
    for (const type of Object.values(authorization)) expect(['AWS_IAM', 'JWT']).toContain(type);
    // The JWT authorizer takes the user pool's ID tokens: its issuer, the app client as audience.
    expect(Object.keys(awsTemplate.findResources('AWS::ApiGatewayV2::Authorizer', ofHttpApi))).toHaveLength(1);
    awsTemplate.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: {
        Issuer: { 'Fn::GetAtt': ['UserPool', 'ProviderURL'] },
        Audience: [{ Ref: 'UserPoolClient' }],
      },
    });
    for (const route of routes.filter((r) => r.Properties.AuthorizationType === 'JWT'))
      expect(route.Properties.AuthorizerId).toEqual({ Ref: expect.stringMatching(/Authorizer/) });
    awsTemplate.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: { 'Fn::GetAtt': ['IngestFunction', 'Arn'] },
      PayloadFormatVersion: '2.0',
    });
  });

  it('logs and throttles the API stage', () => {
    awsTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context.requestId'),
      },
    });
  });

  it('runs the market feed from an EventBridge Scheduler schedule invoking ingest', () => {
    awsTemplate.resourceCountIs('AWS::Scheduler::Schedule', 1);
    const schedule = Object.values(awsTemplate.findResources('AWS::Scheduler::Schedule'))[0]?.Properties;
    expect(schedule).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': ['IngestFunction', 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
      },
    });
    expect(JSON.parse(schedule.Target.Input)).toEqual({
      kind: 'market-feed',
      scheduledTime: '<aws.scheduler.scheduled-time>',
    });
    awsTemplate.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: 'IngestFunction' },
      MaximumRetryAttempts: 0,
    });
  });

  it('alarms on iterator age, DLQ depths, and every function’s errors and throttles', () => {
    awsTemplate.resourceCountIs('AWS::CloudWatch::Alarm', 2 + 6 + 2 * FUNCTION_NAMES.length);
    // Both stream consumers: a batch that keeps failing is retried until the record age limit, holding the shard.
    for (const fn of ['ProcessFunction', 'MarketDataFunction']) {
      awsTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'IteratorAge',
        Statistic: 'Maximum',
        Threshold: 60_000,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
      });
    }
    const deadLetters = ['CommandsDlq', 'EventsDlq', 'WsOrderEventsDlq', 'WsAccountUpdatesDlq', 'ProcessFailureQueue'];
    for (const queue of [...deadLetters, 'MarketDataFailureQueue']) {
      awsTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      });
    }
    for (const logicalId of FUNCTION_IDS) {
      for (const metric of ['Errors', 'Throttles']) {
        awsTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
          MetricName: metric,
          Statistic: 'Sum',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId } }],
        });
      }
    }
    for (const alarm of Object.values(awsTemplate.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toHaveLength(1);
    }
    awsTemplate.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    awsTemplate.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('grants each function only what it uses', () => {
    const ingest = statementsOf(awsTemplate, 'IngestFunction');
    expect(actionsIn(grantsOn(ingest, 'TicksStream'))).toEqual(
      expect.arrayContaining(['kinesis:PutRecord', 'kinesis:PutRecords']),
    );
    expect(actionsIn(ingest).filter((action) => /^(dynamodb|sqs|secretsmanager):/.test(action))).toEqual([]);

    const process = statementsOf(awsTemplate, 'ProcessFunction');
    expect(actionsIn(grantsOn(process, 'StrategyStateTable'))).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(actionsIn(grantsOn(process, 'CommandsQueue'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(actionsIn(grantsOn(process, 'ProcessFailureQueue'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(grantsOn(process, 'OrdersTable')).toEqual([]);

    const execute = statementsOf(awsTemplate, 'ExecuteFunction');
    expect(actionsIn(grantsOn(execute, 'OrdersTable'))).toEqual(['dynamodb:BatchGetItem', 'dynamodb:PutItem']);
    expect(actionsIn(grantsOn(execute, 'CommandsDlq'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(actionsIn(grantsOn(execute, 'EventsTopic'))).toEqual(['sns:Publish']);
    // Its records are the history: no query of the indexes.
    expect(JSON.stringify(grantsOn(execute, 'OrdersTable'))).not.toContain('/index/');
    expect(grantsOn(execute, 'EventsQueue')).toEqual([]);
    // Its orders' live updates: sends to the notifier's account-updates queue, nothing else of live delivery.
    expect(actionsIn(grantsOn(execute, 'WsAccountUpdatesQueue'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(actionsIn(grantsOn(execute, 'WsAccountUpdatesQueue'))).not.toContain('sqs:ReceiveMessage');
    expect(grantsOn(execute, 'WsOrderEventsQueue')).toEqual([]);
    expect(actionsIn(execute)).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
    expect(grantsOn(execute, 'StrategyStateTable')).toEqual([]);
    expect(grantsOn(execute, 'TicksStream')).toEqual([]);

    const api = statementsOf(awsTemplate, 'ApiFunction');
    // GetItem on the table; Query only on the history's two indexes, by name.
    const apiOrders = grantsOn(api, 'OrdersTable');
    expect(actionsIn(apiOrders)).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    const queried = apiOrders.filter((s) => actionsIn([s]).includes('dynamodb:Query'));
    expect(JSON.stringify(queried)).toContain('/index/ByAccount');
    expect(JSON.stringify(queried)).toContain('/index/BySymbol');
    expect(JSON.stringify(queried)).not.toContain('/index/*');
    expect(actionsIn(api).filter((action) => /^(sqs|kinesis):/.test(action))).toEqual([]);

    const orders = statementsOf(awsTemplate, 'OrdersFunction');
    expect(actionsIn(grantsOn(orders, 'OrdersTable'))).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsIn(grantsOn(orders, 'StrategyStateTable'))).toEqual(['dynamodb:GetItem']);
    expect(actionsIn(grantsOn(orders, 'CommandsQueue'))).toEqual(expect.arrayContaining(['sqs:SendMessage']));
    expect(actionsIn(grantsOn(orders, 'EventsTopic'))).toEqual(expect.arrayContaining(['sns:Publish']));
    expect(grantsOn(orders, 'TicksStream')).toEqual([]);

    // The admin function reaches the ledger, and reads queue depths: no table, stream, or other queue action.
    const admin = statementsOf(awsTemplate, 'AdminFunction');
    expect(actionsIn(admin).filter((action) => /^(dynamodb|sqs|kinesis):/.test(action))).toEqual([
      'sqs:GetQueueAttributes',
    ]);

    // Logs: each function writes to its own log group only; no AWS-managed basic execution policy.
    for (const logicalId of FUNCTION_IDS) {
      const logs = statementsOf(awsTemplate, logicalId).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('logs:')),
      );
      expect(actionsIn(logs)).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    }
    for (const role of Object.values(awsTemplate.findResources('AWS::IAM::Role'))) {
      expect(JSON.stringify(role.Properties.ManagedPolicyArns ?? [])).not.toContain('AWSLambdaBasicExecutionRole');
    }
  });

  it('never grants a wildcard action', () => {
    for (const statements of policyStatementsByRole(awsTemplate).values()) {
      for (const action of statements.flatMap(actionsOf)) expect(action).not.toMatch(/(^\*$|:\*$)/);
    }
  });

  it('outputs the names the tools use', () => {
    const outputs = Object.keys(awsTemplate.toJSON().Outputs as Record<string, unknown>);
    expect(outputs).toEqual(
      expect.arrayContaining([
        'TicksStreamName',
        'CommandsQueueUrl',
        'EventsQueueUrl',
        'EventsTopicArn',
        'OrdersTableName',
        'StrategyStateTableName',
        'HttpApiUrl',
        'HttpApiExecuteArn',
        'UserPoolId',
        'UserPoolClientId',
        'IngestFunctionName',
        'ExecuteFunctionName',
        'WsAccountUpdatesQueueUrl',
        'WsDeliveryLogTableName',
      ]),
    );
  });

  it('has no unresolved cdk-nag AwsSolutions finding, and every suppression gives its reason', () => {
    expect(unresolvedNagFindings(aws.pipeline)).toEqual([]);
    const suppressions = nagSuppressions(awsTemplate);
    expect(suppressions.length).toBeGreaterThan(0);
    for (const suppression of suppressions) expect(suppression.reason.length).toBeGreaterThan(30);
  });
});

/**
 * The template's environment as the function would see it once deployed: each Ref/import replaced by a value of
 * the shape AWS gives (queue URL, table name, secret ARN).
 */
function deployedEnvironment(template: Template, logicalId: string): NodeJS.ProcessEnv {
  const resources = template.toJSON().Resources as Resources;
  const resolve = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const ref = (value as { Ref?: string }).Ref;
    if (ref !== undefined) {
      const type = resources[ref]?.Type;
      if (type === 'AWS::SQS::Queue') return `https://sqs.us-east-1.amazonaws.com/123456789012/${ref}.fifo`;
      if (type === 'AWS::DynamoDB::Table' || type === 'AWS::Kinesis::Stream') return `PipelineStack-${ref}-ABC123`;
      if (type === 'AWS::SNS::Topic') return `arn:aws:sns:us-east-1:123456789012:PipelineStack-${ref}-ABC123.fifo`;
    }
    if (JSON.stringify(value).includes('RaftClientKeys')) {
      return 'arn:aws:secretsmanager:us-east-1:123456789012:secret:RaftClientKeysRead-AbCdEf';
    }
    const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
    if (join) return join[1].map(resolve).join(join[0]);
    throw new Error(`${logicalId}: cannot resolve ${JSON.stringify(value)}`);
  };
  return Object.fromEntries(
    Object.entries(environmentOf(template, logicalId)).map(([name, value]) => [name, resolve(value)]),
  );
}

describe('PipelineStack (target aws, enhanced fan-out on, high-throughput FIFO off)', () => {
  it('reads the stream through a consumer of its own, with the same mapping settings', () => {
    // Process's only: market data keeps polling (test/integration/infra/market-data.test.ts).
    tunedTemplate.resourceCountIs('AWS::Kinesis::StreamConsumer', 1);
    tunedTemplate.hasResourceProperties('AWS::Kinesis::StreamConsumer', {
      StreamARN: { 'Fn::GetAtt': ['TicksStream', 'Arn'] },
      ConsumerName: `${tuned.pipeline.stackName}-process`,
    });
    const [consumerId] = Object.keys(
      tunedTemplate.findResources('AWS::Kinesis::StreamConsumer', {
        Properties: { ConsumerName: `${tuned.pipeline.stackName}-process` },
      }),
    );
    const mapping = (tunedTemplate.toJSON().Resources as Resources).ProcessTicksMapping;
    expect(mapping?.Properties).toMatchObject({
      FunctionName: { Ref: 'ProcessFunction' },
      EventSourceArn: { 'Fn::GetAtt': [consumerId, 'ConsumerARN'] },
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['ProcessFailureQueue', 'Arn'] } } },
    });
    // Lambda needs the consumer's own read actions (SubscribeToShard) on top of the stream's.
    const process = statementsOf(tunedTemplate, 'ProcessFunction');
    expect(actionsIn(grantsOn(process, consumerId ?? ''))).toEqual(
      expect.arrayContaining(['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard']),
    );
  });

  it('polls the stream with a plain mapping on LocalStack, whose consumers are not tested here', () => {
    localTemplate.resourceCountIs('AWS::Kinesis::StreamConsumer', 0);
    localTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: 'ProcessFunction' },
      EventSourceArn: { 'Fn::GetAtt': ['TicksStream', 'Arn'] },
    });
  });

  it.each(['CommandsQueue', 'CommandsDlq', 'EventsQueue', 'EventsDlq'])(
    '%s stays FIFO with dedup and throughput per queue (SQS defaults)',
    (queue) => {
      const props = (tunedTemplate.toJSON().Resources as Resources)[queue]?.Properties;
      expect(props).toMatchObject({ FifoQueue: true, ContentBasedDeduplication: false });
      expect(props).not.toHaveProperty('DeduplicationScope');
      expect(props).not.toHaveProperty('FifoThroughputLimit');
    },
  );

  it('has no unresolved cdk-nag AwsSolutions finding', () => {
    expect(unresolvedNagFindings(tuned.pipeline)).toEqual([]);
  });
});

describe('the functions accept the environment the stack gives them (their own config loaders)', () => {
  const loaders: [string, (env: NodeJS.ProcessEnv) => unknown][] = [
    ['IngestFunction', loadIngestConfig],
    ['ProcessFunction', loadProcessConfig],
    ['ExecuteFunction', loadExecuteConfig],
    ['ApiFunction', loadApiConfig],
    ['MarketDataFunction', loadMarketDataConfig],
    ['MarketDataApiFunction', loadMarketDataApiConfig],
    ['OrdersFunction', loadOrdersConfig],
    ['AdminFunction', loadAdminConfig],
  ];
  it.each(loaders)('%s on aws', (logicalId, load) => {
    expect(() => load(deployedEnvironment(awsTemplate, logicalId))).not.toThrow();
  });
  it.each(loaders)('%s on localstack', (logicalId, load) => {
    expect(() => load(deployedEnvironment(localTemplate, logicalId))).not.toThrow();
  });
});

describe('PipelineStack (target localstack, nodes from compose, tunables from context)', () => {
  it('deploys no Raft cluster and keeps every function out of any VPC', () => {
    expect(local.raftCluster).toBeUndefined();
    for (const logicalId of FUNCTION_IDS)
      expect(functionProps(localTemplate, logicalId)).not.toHaveProperty('VpcConfig');
  });

  it('points execute and api at the compose nodes with a key of their own scope, never the root secret', () => {
    const scopes = { ExecuteFunction: 'orders:write', ApiFunction: 'read' } as const;
    for (const [logicalId, scope] of Object.entries(scopes)) {
      const environment = environmentOf(localTemplate, logicalId);
      expect(environment.RAFT_MEMBERS).toBe(composeRaftMembers(8080).join(','));
      expect(environment.RAFT_CLIENT_KEY).toBe(encodeScopedKey(scopedKey(LOCAL_SECRET, scope)));
      expect(JSON.stringify(environment)).not.toContain(LOCAL_SECRET);
      expect(Object.keys(environment).filter((name) => name.startsWith('RAFT_AUTH_SECRET'))).toEqual([]);
    }
    expect(JSON.stringify(localTemplate.toJSON())).not.toContain(LOCAL_SECRET);
  });

  it('takes the tunables from context', () => {
    localTemplate.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 2 });
    localTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: 'ProcessFunction' },
      BatchSize: 50,
      MaximumBatchingWindowInSeconds: 0,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 600,
      ParallelizationFactor: 2,
    });
    localTemplate.hasResourceProperties('AWS::SQS::Queue', {
      FifoQueue: true,
      VisibilityTimeout: 120,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
    localTemplate.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    localTemplate.hasResourceProperties('AWS::Scheduler::Schedule', { State: 'DISABLED' });
    expect(environmentOf(localTemplate, 'IngestFunction').FEED_SYMBOLS).toBe('AAPL,TSLA');
    expect(functionProps(localTemplate, 'ExecuteFunction').Timeout).toBe(20);
  });

  it('does not retain data on the local target', () => {
    for (const table of ['OrdersTable', 'StrategyStateTable']) {
      expect((localTemplate.toJSON().Resources as Resources)[table]?.DeletionPolicy).toBe('Delete');
    }
  });

  it('has no unresolved cdk-nag AwsSolutions finding', () => {
    expect(unresolvedNagFindings(local.pipeline)).toEqual([]);
  });
});

describe('PipelineStack (target aws, a cluster outside the app: raftAuthSecretArn)', () => {
  const ROOT_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ledger-root-AbCdEf';
  const external = buildTradingApp(
    { target: 'aws', deployRaftCluster: 'false', raftAuthSecretArn: ROOT_ARN, raftMembers: 'http://10.0.0.5:8080' },
    outdir,
  );
  const template = Template.fromStack(external.pipeline);

  it('issues the scoped keys in this stack; only the issuer reads the root ARN, each function its own key', () => {
    template.hasResourceProperties('Custom::RaftClientKeys', { RootSecretArn: ROOT_ARN });
    const readersOfRoot = [...policyStatementsByRole(template)].filter(([, statements]) =>
      statements.some((statement) => JSON.stringify(statement.Resource).includes(ROOT_ARN)),
    );
    expect(readersOfRoot.map(([role]) => role)).toEqual([expect.stringMatching(/^RaftClientKeysIssuerRole/)]);
    const own = OWN_KEYS;
    for (const [logicalId, key] of Object.entries(own)) {
      expect(environmentOf(template, logicalId).RAFT_CLIENT_KEY_ARN).toEqual({ Ref: expect.stringMatching(key) });
      const secretGrants = statementsOf(template, logicalId).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('secretsmanager:')),
      );
      expect(secretGrants.map((s) => s.Resource)).toEqual([{ Ref: expect.stringMatching(key) }]);
    }
    expect(unresolvedNagFindings(external.pipeline)).toEqual([]);
  });
});
