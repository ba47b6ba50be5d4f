import { request } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import type { JSONWebKeySet } from 'jose';
import { NodeSha256 } from '../../../shared/aws/sha256';
import { createCloudWatchLogsClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { waitFor } from '../../../shared/util/wait';
import {
  inlineFunction,
  lambdaIntegration,
  route,
  startGatewayHarness,
  type GatewayHarness,
} from './fixtures/apigateway-harness';

const ISSUER = 'https://issuer.test.local/pool-1';
const ECHO = `exports.handler = async (e) => ({ statusCode: 200, headers: { 'x-echo': 'yes' }, cookies: ['a=1', 'b=2'], body: JSON.stringify(e) });`;
const INFERRED = `exports.handler = async () => ({ hello: 'world' });`;
const BINARY = `exports.handler = async () => ({ statusCode: 201, isBase64Encoded: true, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 2, 255]).toString('base64') });`;
const FAIL = `exports.handler = async () => { throw new Error('boom'); };`;
const SLOW = `exports.handler = async () => { await new Promise((r) => setTimeout(r, 3000)); return { statusCode: 200, body: 'late' }; };`;
const AUTHORIZER = `exports.handler = async (e) => ({
  principalId: 'user-1',
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: e.headers.authorization === 'allow' ? 'Allow' : 'Deny', Resource: e.routeArn || e.methodArn }] },
  context: { role: 'trader', account: 'A1' },
});`;

function template() {
  const api = 'Api';
  return {
    Resources: {
      Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'test-http', ProtocolType: 'HTTP' } },
      AccessLogs: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: '/test/apigw-access' } },
      Default: {
        Type: 'AWS::ApiGatewayV2::Stage',
        Properties: {
          ApiId: { Ref: api },
          StageName: '$default',
          AutoDeploy: true,
          DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 500 },
          // One token per 10 s after a burst of 2: no refill lands within the test, however slow the machine.
          RouteSettings: { 'GET /limited': { ThrottlingRateLimit: 0.1, ThrottlingBurstLimit: 2 } },
          AccessLogSettings: {
            DestinationArn: { 'Fn::GetAtt': ['AccessLogs', 'Arn'] },
            Format: '$context.requestId $context.httpMethod $context.routeKey $context.status',
          },
        },
      },
      Prod: {
        Type: 'AWS::ApiGatewayV2::Stage',
        Properties: { ApiId: { Ref: api }, StageName: 'prod', AutoDeploy: true },
      },
      Echo: inlineFunction(ECHO),
      Inferred: inlineFunction(INFERRED),
      Binary: inlineFunction(BINARY),
      Fail: inlineFunction(FAIL),
      Slow: inlineFunction(SLOW),
      AuthFn: inlineFunction(AUTHORIZER),
      EchoInt: lambdaIntegration(api, 'Echo', { PayloadFormatVersion: '2.0' }),
      EchoV1Int: lambdaIntegration(api, 'Echo', { PayloadFormatVersion: '1.0' }),
      InferredInt: lambdaIntegration(api, 'Inferred', { PayloadFormatVersion: '2.0' }),
      BinaryInt: lambdaIntegration(api, 'Binary', { PayloadFormatVersion: '2.0' }),
      FailInt: lambdaIntegration(api, 'Fail', { PayloadFormatVersion: '2.0' }),
      SlowInt: lambdaIntegration(api, 'Slow', { PayloadFormatVersion: '2.0', TimeoutInMillis: 1000 }),
      Jwt: {
        Type: 'AWS::ApiGatewayV2::Authorizer',
        Properties: {
          ApiId: { Ref: api },
          Name: 'jwt',
          AuthorizerType: 'JWT',
          IdentitySource: ['$request.header.Authorization'],
          JwtConfiguration: { Issuer: ISSUER, Audience: ['client-1'] },
        },
      },
      Custom: {
        Type: 'AWS::ApiGatewayV2::Authorizer',
        Properties: {
          ApiId: { Ref: api },
          Name: 'custom',
          AuthorizerType: 'REQUEST',
          AuthorizerPayloadFormatVersion: '2.0',
          IdentitySource: ['$request.header.Authorization'],
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
      REcho: route(api, 'GET /echo/{id}', 'EchoInt'),
      RProxy: route(api, 'ANY /files/{proxy+}', 'EchoInt'),
      RExact: route(api, 'GET /files/readme', 'InferredInt'),
      RV1: route(api, 'POST /v1', 'EchoV1Int'),
      RInferred: route(api, 'GET /inferred', 'InferredInt'),
      RBinary: route(api, 'POST /binary', 'BinaryInt'),
      RFail: route(api, 'GET /fail', 'FailInt'),
      RSlow: route(api, 'GET /slow', 'SlowInt'),
      RLimited: route(api, 'GET /limited', 'InferredInt'),
      RJwt: route(api, 'GET /jwt', 'EchoInt', { AuthorizationType: 'JWT', AuthorizerId: { Ref: 'Jwt' } }),
      RScoped: route(api, 'POST /jwt', 'EchoInt', {
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: 'Jwt' },
        AuthorizationScopes: ['orders/write'],
      }),
      RIam: route(api, 'POST /iam', 'EchoInt', { AuthorizationType: 'AWS_IAM' }),
      RCustom: route(api, 'GET /custom', 'EchoInt', { AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: 'Custom' } }),
    },
    Outputs: { ApiId: { Value: { Ref: api } }, Endpoint: { Value: { 'Fn::GetAtt': [api, 'ApiEndpoint'] } } },
  };
}

let h: GatewayHarness;
let base: string;
let apiId: string;
let jose: typeof import('jose');
type PrivateKey = Awaited<ReturnType<typeof import('jose').generateKeyPair>>['privateKey'];
let keys: { privateKey: PrivateKey; jwks: JSONWebKeySet };

async function token(claims: Record<string, unknown>, opts: { exp?: string; key?: PrivateKey } = {}): Promise<string> {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '10m')
    .sign(opts.key ?? keys.privateKey);
}

beforeAll(async () => {
  jose = await import('jose');
  const pair = await jose.generateKeyPair('RS256');
  keys = {
    privateKey: pair.privateKey,
    jwks: { keys: [{ ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] },
  };
  h = await startGatewayHarness({ resolveJwks: async (issuer) => (issuer === ISSUER ? keys.jwks : undefined) });
  const outputs = await h.deploy('GatewayHttpStack', template());
  apiId = outputs.ApiId ?? '';
  expect(outputs.Endpoint).toBe(`https://${apiId}.execute-api.us-east-1.amazonaws.com`);
  base = `${h.edge.endpoint}/_aws/execute-api/${apiId}`;
}, 60_000);
afterAll(async () => h?.stop());

// The events are AWS's JSON, walked by the assertions below; toMatchObject checks their shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (r: Response) => JSON.parse(await r.text()) as Record<string, any>;

describe('API Gateway HTTP API on the edge', () => {
  it('sends the payload format 2.0 event and maps the structured response (headers, cookies)', async () => {
    const r = await fetch(`${base}/echo/42?a=1&a=2&b=x`, { headers: { cookie: 'c1=v1; c2=v2', 'x-multi': 'one' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-echo')).toBe('yes');
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const e = await json(r);
    expect(e).toMatchObject({
      version: '2.0',
      routeKey: 'GET /echo/{id}',
      rawPath: '/echo/42',
      rawQueryString: 'a=1&a=2&b=x',
      cookies: ['c1=v1', 'c2=v2'],
      queryStringParameters: { a: '1,2', b: 'x' },
      pathParameters: { id: '42' },
      isBase64Encoded: false,
      requestContext: {
        accountId: '000000000000',
        apiId,
        stage: '$default',
        routeKey: 'GET /echo/{id}',
        domainPrefix: apiId,
        http: { method: 'GET', path: '/echo/42', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1' },
      },
    });
    expect(e.headers['x-multi']).toBe('one');
    expect(e.headers.cookie).toBeUndefined();
    expect(typeof e.requestContext.timeEpoch).toBe('number');
    expect(e.requestContext.time).toMatch(/^\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('matches routes as AWS does: exact over greedy, $default-less 404, named stages, the host form', async () => {
    expect(await json(await fetch(`${base}/files/readme`))).toEqual({ hello: 'world' });
    const greedy = await json(await fetch(`${base}/files/a/b/c`, { method: 'DELETE' }));
    expect(greedy).toMatchObject({ routeKey: 'ANY /files/{proxy+}', pathParameters: { proxy: 'a/b/c' } });
    const missing = await fetch(`${base}/nowhere`);
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ message: 'Not Found' });
    const prod = await json(await fetch(`${base}/prod/echo/7`));
    expect(prod).toMatchObject({ rawPath: '/prod/echo/7', requestContext: { stage: 'prod' } });
    // fetch cannot set Host; node:http can, as a client resolving *.localhost.localstack.cloud to 127.0.0.1 sends it.
    const port = new URL(h.edge.endpoint).port;
    const viaHost = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/echo/9',
          headers: { host: `${apiId}.execute-api.localhost.localstack.cloud:${port}` },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(viaHost)).toMatchObject({ pathParameters: { id: '9' }, requestContext: { domainPrefix: apiId } });
    expect((await fetch(`${h.edge.endpoint}/_aws/execute-api/nosuchapi/echo/1`)).status).toBe(404);
  });

  it('sends format 1.0 events, infers 2.0 responses, base64-encodes binary both ways', async () => {
    const v1 = await json(
      await fetch(`${base}/v1?q=1`, {
        method: 'POST',
        body: '{"x":1}',
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(v1).toMatchObject({
      version: '1.0',
      httpMethod: 'POST',
      resource: '/v1',
      body: '{"x":1}',
      queryStringParameters: { q: '1' },
    });
    const inferred = await fetch(`${base}/inferred`);
    expect(inferred.headers.get('content-type')).toBe('application/json');
    expect(await inferred.json()).toEqual({ hello: 'world' });
    const bin = await fetch(`${base}/binary`, { method: 'POST', body: Buffer.from([9, 8]) });
    expect(bin.status).toBe(201);
    expect([...Buffer.from(await bin.arrayBuffer())]).toEqual([0, 1, 2, 255]);
    const echoed = await json(
      await fetch(`${base}/files/upload`, {
        method: 'PUT',
        body: Buffer.from([1, 2, 3]),
        headers: { 'content-type': 'application/octet-stream' },
      }),
    );
    expect(echoed).toMatchObject({ isBase64Encoded: true, body: Buffer.from([1, 2, 3]).toString('base64') });
  });

  it('answers 500 on a function error, 503 past the integration timeout, 413 over 10 MB', async () => {
    const fail = await fetch(`${base}/fail`);
    expect([fail.status, await fail.json()]).toEqual([500, { message: 'Internal Server Error' }]);
    const slow = await fetch(`${base}/slow`);
    expect([slow.status, await slow.json()]).toEqual([503, { message: 'Service Unavailable' }]);
    const big = await fetch(`${base}/files/big`, { method: 'POST', body: Buffer.alloc(10 * 1024 * 1024 + 1) });
    expect([big.status, await big.json()]).toEqual([413, { message: 'Request Entity Too Large' }]);
  });

  it('throttles a route by its stage settings with 429', async () => {
    const statuses = await Promise.all(Array.from({ length: 5 }, () => fetch(`${base}/limited`).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    const refused = await fetch(`${base}/limited`);
    expect([refused.status, await refused.json()]).toEqual([429, { message: 'Too Many Requests' }]);
  });

  it('enforces the JWT authorizer: missing, bad signature, expired, wrong audience → 401; missing scope → 403', async () => {
    const call = (auth?: string, method = 'GET') =>
      fetch(`${base}/jwt`, { method, headers: auth ? { authorization: auth } : {} });
    expect((await call()).status).toBe(401);
    expect(await (await call()).json()).toEqual({ message: 'Unauthorized' });
    const other = await jose.generateKeyPair('RS256');
    expect((await call(`Bearer ${await token({ aud: 'client-1' }, { key: other.privateKey })}`)).status).toBe(401);
    expect((await call(`Bearer ${await token({ aud: 'client-1' }, { exp: '-1m' })}`)).status).toBe(401);
    expect((await call(`Bearer ${await token({ aud: 'someone-else' })}`)).status).toBe(401);
    const ok = await call(`Bearer ${await token({ aud: 'client-1', sub: 'u1', 'cognito:groups': ['trader'] })}`);
    expect(ok.status).toBe(200);
    expect((await json(ok)).requestContext.authorizer.jwt).toEqual({
      claims: expect.objectContaining({ sub: 'u1', aud: 'client-1', 'cognito:groups': '[trader]', iss: ISSUER }),
      scopes: null,
    });
    // An access token names the app client in client_id, not aud; POST /jwt needs the orders/write scope.
    const access = await token({ client_id: 'client-1', scope: 'orders/read' });
    expect((await call(access, 'GET')).status).toBe(200);
    const forbidden = await call(access, 'POST');
    expect([forbidden.status, await forbidden.json()]).toEqual([403, { message: 'Forbidden' }]);
    expect((await call(await token({ client_id: 'client-1', scope: 'orders/write' }), 'POST')).status).toBe(200);
  });

  it('enforces AWS_IAM with SigV4 from the SDK signer: unsigned 403, wrong secret 403 mismatch, signed 200', async () => {
    const url = new URL(`${base}/iam?x=1`);
    const sign = async (secretAccessKey: string) => {
      const signer = new SignatureV4({
        service: 'execute-api',
        region: 'us-east-1',
        credentials: { accessKeyId: EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey },
        sha256: NodeSha256,
      });
      const signed = await signer.sign({
        method: 'POST',
        protocol: 'http:',
        hostname: url.hostname,
        port: Number(url.port),
        path: url.pathname,
        query: { x: '1' },
        headers: { host: url.host, 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      return fetch(url, { method: 'POST', headers: signed.headers, body: '{"a":1}' });
    };
    const unsigned = await fetch(url, { method: 'POST', body: '{}' });
    expect([unsigned.status, await unsigned.json()]).toEqual([403, { message: 'Forbidden' }]);
    const wrong = await sign('not-the-secret');
    expect(wrong.status).toBe(403);
    expect(((await wrong.json()) as { message: string }).message).toMatch(
      /^The request signature we calculated does not match/,
    );
    const ok = await sign(EMULATOR_CREDENTIALS.secretAccessKey);
    expect(ok.status).toBe(200);
    expect((await json(ok)).requestContext.authorizer.iam).toMatchObject({
      accessKey: 'test',
      accountId: '000000000000',
    });
  });

  it('runs the Lambda REQUEST authorizer: its Allow passes its context on, Deny is 403, no identity 401', async () => {
    const allowed = await fetch(`${base}/custom`, { headers: { authorization: 'allow' } });
    expect(allowed.status).toBe(200);
    expect((await json(allowed)).requestContext.authorizer).toEqual({
      lambda: { role: 'trader', account: 'A1', principalId: 'user-1' },
    });
    expect((await fetch(`${base}/custom`, { headers: { authorization: 'deny' } })).status).toBe(403);
    expect((await fetch(`${base}/custom`)).status).toBe(401);
  });

  it('writes access log lines to the stage log group, readable through the CloudWatch Logs API', async () => {
    await fetch(`${base}/inferred`);
    const logs = createCloudWatchLogsClient({
      endpoint: h.edge.endpoint,
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
    });
    await waitFor('an access log line', 5_000, async () => {
      const events = (await logs.send(new FilterLogEventsCommand({ logGroupName: '/test/apigw-access' }))).events ?? [];
      return events.some((e) => / GET GET \/inferred 200$/.test(e.message ?? ''));
    });
    logs.destroy();
  });
});
