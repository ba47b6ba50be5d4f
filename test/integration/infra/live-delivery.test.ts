import { rmSync } from 'node:fs';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { loadWsAuthorizerConfig } from '../../../functions/ws-authorizer/config';
import { loadWsConnectionConfig } from '../../../functions/ws-connection/config';
import { loadWsNotifierConfig } from '../../../functions/ws-notifier/config';
import { actionsOf, assemblyDir, buildTradingApp, policyStatementsByRole } from './app-harness';

/** LiveDelivery as PipelineStack deploys it on AWS (the app bundles the functions once for this file). */
const outdir = assemblyDir();
const app = buildTradingApp({ target: 'aws' }, outdir);
const template = Template.fromStack(app.pipeline);
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const wsApi = { Properties: { ApiId: { Ref: 'WebSocketApi' } } };
function statementsOf(functionId: string) {
  const role = (resources[functionId]!.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return policyStatementsByRole(template).get(role) ?? [];
}
const actionsOn = (functionId: string, resourceId: string) =>
  statementsOf(functionId)
    .filter((s) => JSON.stringify(s.Resource).includes(`"${resourceId}"`))
    .flatMap(actionsOf)
    .sort();

describe('LiveDelivery (PipelineStack, target aws)', () => {
  it('is a WebSocket API routed by action; only $connect is authorized, by the Lambda REQUEST authorizer', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route', wsApi));
    const auth = Object.fromEntries(routes.map((r) => [r.Properties.RouteKey, r.Properties.AuthorizationType]));
    expect(auth).toEqual({
      $connect: 'CUSTOM',
      $disconnect: 'NONE',
      $default: 'NONE',
      subscribe: 'NONE',
      unsubscribe: 'NONE',
      'order.status': 'NONE',
      resume: 'NONE',
      'order.submit': 'NONE',
      'order.cancel': 'NONE',
    });
    const [authorizer] = Object.values(template.findResources('AWS::ApiGatewayV2::Authorizer', wsApi));
    expect(authorizer?.Properties).toMatchObject({ AuthorizerType: 'REQUEST' });
    // No identity source: the token may be ?token= or a subprotocol; the authorizer refuses neither-nor itself.
    expect(authorizer?.Properties.IdentitySource ?? []).toEqual([]);
    expect(JSON.stringify(authorizer?.Properties.AuthorizerUri)).toContain('WsAuthorizerFunction');
  });

  it('serves the live stage throttled and access-logged', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: 'WebSocketApi' },
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 },
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context.connectionId'),
      },
    });
  });

  it('keys the tables as the code reads them, with TTL', () => {
    const table = (id: string) => resources[id]!.Properties;
    expect(table('WsConnectionsTable')).toMatchObject({
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(table('WsSubscriptionsTable')).toMatchObject({
      KeySchema: [
        { AttributeName: 'topic', KeyType: 'HASH' },
        { AttributeName: 'connectionId', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(table('WsDeliveryLogTable')).toMatchObject({
      KeySchema: [
        { AttributeName: 'stream', KeyType: 'HASH' },
        { AttributeName: 'seq', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: expect.arrayContaining([{ AttributeName: 'seq', AttributeType: 'N' }]),
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('feeds the notifier from its two FIFO queues (partial failures) and the ticks stream (latest, short retries)', () => {
    for (const queue of ['WsOrderEventsQueue', 'WsAccountUpdatesQueue']) {
      expect(resources[queue]?.Properties).toMatchObject({ FifoQueue: true });
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: 'WsNotifierFunction' },
        EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
    // The order events carry only other publishers' (execute's are filtered out): two concurrent batches at most.
    // The account updates, every order's, scale as Lambda scales them.
    expect(resources.WsNotifierOrderEventsMapping?.Properties.ScalingConfig).toEqual({ MaximumConcurrency: 2 });
    expect(resources.WsNotifierAccountUpdatesMapping?.Properties).not.toHaveProperty('ScalingConfig');
    // It forwards the order events to the account-updates queue, and knows that queue's records by their ARN.
    const env = (resources.WsNotifierFunction?.Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    expect(env.ACCOUNT_UPDATES_QUEUE_URL).toEqual({ Ref: 'WsAccountUpdatesQueue' });
    expect(env.ACCOUNT_UPDATES_QUEUE_ARN).toEqual({ 'Fn::GetAtt': ['WsAccountUpdatesQueue', 'Arn'] });
    const sends = statementsOf('WsNotifierFunction').filter((s) => actionsOf(s).includes('sqs:SendMessage'));
    expect(sends.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': ['WsAccountUpdatesQueue', 'Arn'] }]);
    expect(resources.WsNotifierTicksMapping?.Properties).toMatchObject({
      FunctionName: { Ref: 'WsNotifierFunction' },
      StartingPosition: 'LATEST',
      MaximumRetryAttempts: 2,
      MaximumRecordAgeInSeconds: 60,
    });
  });

  it('grants each function only what it uses; @connections by POST on the live stage only', () => {
    expect(
      statementsOf('WsAuthorizerFunction')
        .flatMap(actionsOf)
        .filter((a) => !a.startsWith('logs:')),
    ).toEqual([]);
    expect(actionsOn('WsConnectionFunction', 'WsConnectionsTable')).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOn('WsConnectionFunction', 'WsDeliveryLogTable')).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    // The notifier only appends (reads of counters and dedup rows, transactions of puts); it never reads a stream.
    expect(actionsOn('WsNotifierFunction', 'WsDeliveryLogTable')).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:PutItem',
    ]);
    // The notifier reads the candles (candle.update) and writes nothing of market-data's.
    expect(actionsOn('WsNotifierFunction', 'CandlesTable')).toEqual(['dynamodb:BatchGetItem']);
    for (const fn of ['WsConnectionFunction', 'WsNotifierFunction']) {
      const manage = statementsOf(fn).filter((s) => actionsOf(s).includes('execute-api:ManageConnections'));
      expect(manage).toHaveLength(1);
      expect(JSON.stringify(manage[0]!.Resource)).toMatch(/\/live\/POST\/@connections\/\*"/);
    }
  });

  it('grants the connection function order entry exactly as the orders function has it, and no more', () => {
    const entryActions = (fn: string) =>
      ['OrdersTable', 'StrategyStateTable', 'CommandsQueue', 'EventsTopic'].map((id) => actionsOn(fn, id));
    expect(entryActions('WsConnectionFunction')).toEqual(entryActions('OrdersFunction'));
    expect(actionsOn('WsConnectionFunction', 'OrdersTable')).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    expect(actionsOn('WsConnectionFunction', 'StrategyStateTable')).toEqual(['dynamodb:GetItem']);
    expect(actionsOn('WsConnectionFunction', 'CommandsQueue')).toContain('sqs:SendMessage');
    expect(actionsOn('WsConnectionFunction', 'EventsTopic')).toEqual(['sns:Publish']);
    // Its one ledger key is orders:write (cancel needs it; it reads too); no read or admin key, no root secret.
    const secrets = statementsOf('WsConnectionFunction').filter((s) =>
      actionsOf(s).some((a) => a.startsWith('secretsmanager:')),
    );
    expect(secrets).toHaveLength(1);
    expect(JSON.stringify(secrets[0]!.Resource)).toContain('RaftClientKeysOrdersWrite');
    // Nothing of the stream, the candles or the other queues.
    const all = statementsOf('WsConnectionFunction').flatMap(actionsOf);
    expect(all.filter((a) => /^(kinesis|sqs:(Receive|Delete))/.test(a))).toEqual([]);
    expect(actionsOn('WsConnectionFunction', 'CandlesTable')).toEqual([]);
  });

  it('gives the functions environments their own config loaders accept', () => {
    const resolve = (value: unknown): string => {
      if (typeof value === 'string') return value;
      const json = JSON.stringify(value);
      if (json.includes('ApiEndpoint')) return 'wss://abc123.execute-api.us-east-1.amazonaws.com/live';
      if (json.includes('ProviderURL'))
        return `https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC${json.includes('jwks') ? '/.well-known/jwks.json' : ''}`;
      if (json.includes('RaftClientKeys')) return 'arn:aws:secretsmanager:us-east-1:123456789012:secret:Read-AbCdEf';
      if (json.includes('EventsTopic')) return 'arn:aws:sns:us-east-1:123456789012:PipelineStack-EventsTopic.fifo';
      if (json.includes('CommandsQueue')) return 'https://sqs.us-east-1.amazonaws.com/123456789012/Commands.fifo';
      if (json.includes('AccountUpdatesQueue'))
        return json.includes('Arn')
          ? 'arn:aws:sqs:us-east-1:123456789012:AccountUpdates.fifo'
          : 'https://sqs.us-east-1.amazonaws.com/123456789012/AccountUpdates.fifo';
      const ref = (value as { Ref?: string }).Ref;
      if (ref) return `PipelineStack-${ref}-ABC123`;
      throw new Error(`cannot resolve ${json}`);
    };
    const env = (id: string) =>
      Object.fromEntries(
        Object.entries((resources[id]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables).map(
          ([k, v]) => [k, resolve(v)],
        ),
      );
    expect(loadWsAuthorizerConfig(env('WsAuthorizerFunction'))).toMatchObject({
      JWT_ISSUER: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC',
      JWT_AUDIENCE: 'PipelineStack-UserPoolClient-ABC123',
      USER_POOL_JWKS_URI: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC/.well-known/jwks.json',
    });
    expect(loadWsConnectionConfig(env('WsConnectionFunction')).WS_CALLBACK_URL).toBe(
      'wss://abc123.execute-api.us-east-1.amazonaws.com/live',
    );
    expect(loadWsNotifierConfig(env('WsNotifierFunction')).DELIVERY_LOG_RETENTION_S).toBe(86_400);
  });
});
