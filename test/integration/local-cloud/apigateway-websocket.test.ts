import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import WebSocket from 'ws';
import { EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { waitFor } from '../../../shared/util/wait';
import { cliEnv, findAwsClis, runAwsCli } from '../../support/aws-cli';
import {
  inlineFunction,
  lambdaIntegration,
  route,
  startGatewayHarness,
  type GatewayHarness,
} from './fixtures/apigateway-harness';

const RECORD = `exports.handler = async (e) => {
  require('fs').appendFileSync(process.env.OUT, JSON.stringify(e) + '\\n');
  return { statusCode: 200, body: JSON.stringify({ route: e.requestContext.routeKey, event: e }) };
};`;
const AUTHORIZER = `exports.handler = async (e) => ({
  principalId: 'user-' + e.queryStringParameters.token,
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: e.queryStringParameters.token === 'good' ? 'Allow' : 'Deny', Resource: e.methodArn }] },
  context: { account: 'A1' },
});`;

const out = join(mkdtempSync(join(tmpdir(), 'apigw-ws-')), 'events.jsonl');

function template() {
  const api = 'Ws';
  return {
    Resources: {
      Ws: {
        Type: 'AWS::ApiGatewayV2::Api',
        Properties: { Name: 'test-ws', ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' },
      },
      Live: {
        Type: 'AWS::ApiGatewayV2::Stage',
        Properties: { ApiId: { Ref: api }, StageName: 'live', AutoDeploy: true },
      },
      Record: inlineFunction(RECORD, { Environment: { Variables: { OUT: out } } }),
      AuthFn: inlineFunction(AUTHORIZER),
      RecordInt: lambdaIntegration(api, 'Record'),
      Auth: {
        Type: 'AWS::ApiGatewayV2::Authorizer',
        Properties: {
          ApiId: { Ref: api },
          Name: 'token',
          AuthorizerType: 'REQUEST',
          IdentitySource: ['route.request.querystring.token'],
          AuthorizerUri: {
            'Fn::Join': [
              '',
              [
                'arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/',
                { 'Fn::GetAtt': ['AuthFn', 'Arn'] },
                '/invocations',
              ],
            ],
          },
        },
      },
      Connect: route(api, '$connect', 'RecordInt', { AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: 'Auth' } }),
      Disconnect: route(api, '$disconnect', 'RecordInt'),
      Default: route(api, '$default', 'RecordInt'),
      Echo: route(api, 'echo', 'RecordInt'),
      EchoResponse: {
        Type: 'AWS::ApiGatewayV2::RouteResponse',
        Properties: { ApiId: { Ref: api }, RouteId: { Ref: 'Echo' }, RouteResponseKey: '$default' },
      },
      Http: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'test-http-listed', ProtocolType: 'HTTP' } },
    },
    Outputs: { WsId: { Value: { Ref: api } }, HttpId: { Value: { Ref: 'Http' } } },
  };
}

let h: GatewayHarness;
let wsUrl: string;
let management: ApiGatewayManagementApiClient;
let ids: Record<string, string>;

beforeAll(async () => {
  h = await startGatewayHarness();
  ids = await h.deploy('GatewayWsStack', template());
  wsUrl = `${h.edge.endpoint.replace('http', 'ws')}/_aws/execute-api/${ids.WsId}/live`;
  management = new ApiGatewayManagementApiClient({
    endpoint: `${h.edge.endpoint}/_aws/execute-api/${ids.WsId}/live`,
    region: 'us-east-1',
    credentials: EMULATOR_CREDENTIALS,
  });
}, 60_000);
afterAll(async () => {
  management?.destroy();
  await h?.stop();
});

/** Opens a client; resolves once open, or with the HTTP status the upgrade was refused with. */
function open(
  query: string,
  url = wsUrl,
): Promise<{ ws: WebSocket; messages: string[] } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?${query}`);
    const messages: string[] = [];
    ws.on('message', (m: WebSocket.RawData) => messages.push(String(m)));
    ws.once('open', () => resolve({ ws, messages }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

async function connected(query = 'token=good') {
  const c = await open(query);
  if (!('ws' in c)) throw new Error(`refused with ${c.status}`);
  return c;
}

const recorded = () =>
  existsSync(out)
    ? readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { requestContext: Record<string, unknown>; body?: string })
    : [];

describe('API Gateway WebSocket API on the edge', () => {
  it('refuses $connect with the authorizer: no token 401, Deny 403, before the upgrade', async () => {
    expect(await open('')).toEqual({ status: 401, body: '{"message":"Unauthorized"}' });
    expect(await open('token=bad')).toEqual({ status: 403, body: '{"message":"Forbidden"}' });
  });

  it('connects, routes by $request.body.action, answers two-way routes, and sends AWS event shapes', async () => {
    const { ws, messages } = await connected();
    const connect = recorded().find((e) => e.requestContext.eventType === 'CONNECT');
    expect(connect?.requestContext).toMatchObject({
      routeKey: '$connect',
      apiId: ids.WsId,
      stage: 'live',
      authorizer: { account: 'A1', principalId: 'user-good' },
    });
    ws.send(JSON.stringify({ action: 'echo', n: 1 }));
    await waitFor('the echo route response', 5_000, async () => messages.length === 1);
    const reply = JSON.parse(messages[0] as string) as {
      route: string;
      event: { body: string; requestContext: Record<string, unknown> };
    };
    expect(reply.route).toBe('echo');
    expect(reply.event.body).toBe('{"action":"echo","n":1}');
    expect(reply.event.requestContext).toMatchObject({
      routeKey: 'echo',
      eventType: 'MESSAGE',
      messageDirection: 'IN',
      connectionId: connect?.requestContext.connectionId,
      connectedAt: connect?.requestContext.connectedAt,
      authorizer: { account: 'A1' },
      stage: 'live',
      apiId: ids.WsId,
    });
    expect(typeof reply.event.requestContext.messageId).toBe('string');
    // $default has no route response: it runs, but nothing is sent back.
    ws.send('not json at all');
    await waitFor('the $default invocation', 5_000, async () =>
      recorded().some((e) => e.requestContext.routeKey === '$default' && e.body === 'not json at all'),
    );
    expect(messages).toHaveLength(1);
    ws.send(Buffer.from([0, 255, 1]), { binary: true });
    await waitFor('the binary frame on $default', 5_000, async () =>
      recorded().some(
        (e) => e.requestContext.routeKey === '$default' && e.body === Buffer.from([0, 255, 1]).toString('base64'),
      ),
    );
    ws.close();
  });

  it('serves @connections through the SDK: post, get, delete, 410 Gone after, 413 over 128 KB; $disconnect runs', async () => {
    const { ws, messages } = await connected();
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    await waitFor('the $connect record', 5_000, async () =>
      recorded().some((e) => e.requestContext.eventType === 'CONNECT'),
    );
    const connectionId = String(
      recorded()
        .filter((e) => e.requestContext.eventType === 'CONNECT')
        .pop()?.requestContext.connectionId,
    );
    await management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{"price":101.5}') }),
    );
    await waitFor('the posted message', 5_000, async () => messages.includes('{"price":101.5}'));
    const info = await management.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.Identity?.SourceIp).toBe('127.0.0.1');
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    await expect(
      management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.alloc(128 * 1024 + 1) })),
    ).rejects.toBeInstanceOf(PayloadTooLargeException);
    await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    expect(await closed).toBe(1000);
    await expect(
      management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('x') })),
    ).rejects.toBeInstanceOf(GoneException);
    await waitFor('the $disconnect invocation', 5_000, async () =>
      recorded().some(
        (e) => e.requestContext.eventType === 'DISCONNECT' && e.requestContext.connectionId === connectionId,
      ),
    );
  });

  it('refuses an unsigned @connections call with 403', async () => {
    const r = await fetch(`${h.edge.endpoint}/_aws/execute-api/${ids.WsId}/live/@connections/abc`, {
      method: 'POST',
      body: 'x',
    });
    expect(r.status).toBe(403);
    expect(r.headers.get('x-amzn-errortype')).toBe('ForbiddenException');
  });

  const cli = findAwsClis()[0];
  (cli ? it : it.skip)('lists both APIs with the real AWS CLI (apigatewayv2 get-apis, get-routes)', async () => {
    const run = async (args: string[]) =>
      JSON.parse((await runAwsCli(cli!, h.edge.endpoint, ['apigatewayv2', ...args], cliEnv())).stdout) as {
        Items: Record<string, unknown>[];
      };
    const apis = (await run(['get-apis'])).Items;
    expect(apis).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          ApiId: ids.WsId,
          Name: 'test-ws',
          ProtocolType: 'WEBSOCKET',
          RouteSelectionExpression: '$request.body.action',
        }),
        expect.objectContaining({ ApiId: ids.HttpId, Name: 'test-http-listed', ProtocolType: 'HTTP' }),
      ]),
    );
    const routes = (await run(['get-routes', '--api-id', String(ids.WsId)])).Items.map((r) => r.RouteKey);
    expect(routes.sort()).toEqual(['$connect', '$default', '$disconnect', 'echo']);
  });
});

describe('WebSocket limits', () => {
  let limited: GatewayHarness;
  let url: string;
  beforeAll(async () => {
    limited = await startGatewayHarness({ websocket: { maxConnections: 1, idleTimeoutMs: 700 } });
    const outputs = await limited.deploy('GatewayWsLimitStack', template());
    url = `${limited.edge.endpoint.replace('http', 'ws')}/_aws/execute-api/${outputs.WsId}/live`;
  }, 60_000);
  afterAll(async () => limited?.stop());

  it('refuses connections past the cap with 429, and closes an idle connection with 1001', async () => {
    const first = await open('token=good', url);
    if (!('ws' in first)) throw new Error(`refused with ${first.status}`);
    const closed = new Promise<number>((resolve) => first.ws.once('close', (code: number) => resolve(code)));
    expect(await open('token=good', url)).toEqual({ status: 429, body: '{"message":"Too Many Requests"}' });
    expect(await closed).toBe(1001);
    const again = await open('token=good', url);
    expect('ws' in again).toBe(true);
    if ('ws' in again) {
      const gone = new Promise((resolve) => again.ws.once('close', resolve));
      again.ws.close();
      await gone;
    }
  });

  it('closes a client that sends a frame over 128 KB (1009, message too big)', async () => {
    const c = await open('token=good', url);
    if (!('ws' in c)) throw new Error(`refused with ${c.status}`);
    const closed = new Promise<number>((resolve) => c.ws.once('close', (code: number) => resolve(code)));
    c.ws.send('x'.repeat(128 * 1024 + 1));
    expect(await closed).toBe(1009);
  });

  it('closes the connections of an API whose stack is deleted (1001)', async () => {
    const c = await open('token=good', url);
    if (!('ws' in c)) throw new Error(`refused with ${c.status}`);
    const closed = new Promise<number>((resolve) => c.ws.once('close', (code: number) => resolve(code)));
    await limited.remove('GatewayWsLimitStack');
    expect(await closed).toBe(1001);
    expect(await open('token=good', url)).toEqual({ status: 404, body: '{"message":"Not Found"}' });
  });
});
