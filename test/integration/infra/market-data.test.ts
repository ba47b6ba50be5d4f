import { rmSync } from 'node:fs';
import { Template } from 'aws-cdk-lib/assertions';
import {
  actionsOf,
  assemblyDir,
  buildTradingApp,
  policyStatementsByRole,
  unresolvedNagFindings,
  type PolicyStatementJson,
} from './app-harness';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

// Built once per file (constructing the app bundles the functions).
const outdir = assemblyDir();
const aws = buildTradingApp({ target: 'aws', ticksRetentionDays: '3', candles1hRetentionDays: '400' }, outdir);
const template = Template.fromStack(aws.pipeline);
const resources = template.toJSON().Resources as Resources;
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function statementsOf(functionLogicalId: string): PolicyStatementJson[] {
  const role = resources[functionLogicalId]?.Properties.Role as { 'Fn::GetAtt': [string, string] };
  return policyStatementsByRole(template).get(role['Fn::GetAtt'][0]) ?? [];
}
/** Actions granted on a resource (its ARN, or its ARN's index paths), sorted. */
const actionsOn = (functionLogicalId: string, resourceLogicalId: string) =>
  statementsOf(functionLogicalId)
    .filter((statement) => JSON.stringify(statement.Resource).includes(`"${resourceLogicalId}"`))
    .flatMap(actionsOf)
    .sort();

describe('MarketData (CDK)', () => {
  it.each([
    ['TicksTable', 'symbol', 'sk', 'S'],
    ['CandlesTable', 'series', 'start', 'N'],
  ])('%s: keyed for time ranges per %s, TTL on expiresAt, on-demand, PITR, encrypted', (table, hash, range, type) => {
    expect(resources[table]?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: hash, KeyType: 'HASH' },
        { AttributeName: range, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: hash, AttributeType: 'S' },
        { AttributeName: range, AttributeType: type },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('gives market-data the tables and the retention from context', () => {
    const env = (resources.MarketDataFunction?.Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env).toMatchObject({
      TICKS_TABLE_NAME: { Ref: 'TicksTable' },
      CANDLES_TABLE_NAME: { Ref: 'CandlesTable' },
      TICKS_RETENTION_DAYS: '3',
      CANDLES_1M_RETENTION_DAYS: '30',
      CANDLES_5M_RETENTION_DAYS: '90',
      CANDLES_1H_RETENTION_DAYS: '400',
    });
  });

  it('maps the tick stream to market-data as a second consumer, with the process mapping’s settings', () => {
    const mapping = resources.MarketDataTicksMapping?.Properties;
    const processMapping = resources.ProcessTicksMapping?.Properties;
    expect(mapping).toMatchObject({
      FunctionName: { Ref: 'MarketDataFunction' },
      // Polled: process reads through its own consumer (the default on aws), market data does not.
      EventSourceArn: { 'Fn::GetAtt': ['TicksStream', 'Arn'] },
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['MarketDataFailureQueue', 'Arn'] } } },
    });
    const { FunctionName: _a, DestinationConfig: _b, EventSourceArn: _c, ...shared } = processMapping ?? {};
    expect(mapping).toMatchObject(shared);
  });

  it('keeps polling the stream with enhanced fan-out on: only process, which orders wait on, gets a consumer', () => {
    const consumers = Object.values(template.findResources('AWS::Kinesis::StreamConsumer'));
    expect(consumers.map((c) => c.Properties.ConsumerName)).toEqual([`${aws.pipeline.stackName}-process`]);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: 'MarketDataFunction' },
      EventSourceArn: { 'Fn::GetAtt': ['TicksStream', 'Arn'] },
    });
  });

  it('grants least privilege: the writer puts and reads slice and candle versions, the reader only queries', () => {
    expect(actionsOn('MarketDataFunction', 'TicksTable')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:PutItem']);
    expect(actionsOn('MarketDataFunction', 'CandlesTable')).toEqual(['dynamodb:BatchGetItem', 'dynamodb:PutItem']);
    expect(actionsOn('MarketDataFunction', 'MarketDataFailureQueue')).toEqual(
      expect.arrayContaining(['sqs:SendMessage']),
    );
    expect(actionsOn('MarketDataApiFunction', 'TicksTable')).toEqual(['dynamodb:Query']);
    expect(actionsOn('MarketDataApiFunction', 'CandlesTable')).toEqual(['dynamodb:Query']);
    const readerActions = statementsOf('MarketDataApiFunction').flatMap(actionsOf);
    expect(readerActions.filter((a) => /^(sqs|kinesis|secretsmanager):/.test(a))).toEqual([]);
    expect(readerActions.filter((a) => /dynamodb:(Put|Update|Delete|BatchWrite)/.test(a))).toEqual([]);
  });

  it('serves GET /ticks and GET /candles from market-data-api through TradingApi.addRoutes', () => {
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).filter((r) =>
      ['GET /ticks', 'GET /candles'].includes(r.Properties.RouteKey as string),
    );
    expect(routes).toHaveLength(2);
    const integrationIds = routes.map(
      (r) => (r.Properties.Target as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1][1],
    );
    for (const id of integrationIds) {
      const integration = resources[(id as { Ref: string }).Ref]?.Properties;
      expect(integration).toMatchObject({ IntegrationUri: { 'Fn::GetAtt': ['MarketDataApiFunction', 'Arn'] } });
    }
  });

  it('leaves no cdk-nag finding unresolved', () => {
    expect(unresolvedNagFindings(aws.pipeline)).toEqual([]);
  });
});
