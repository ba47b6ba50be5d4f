import { formatAccessLog } from '../../../local-cloud/apigateway/access-log';
import { evaluateAuthorizerResponse, identityValue } from '../../../local-cloud/apigateway/auth';
import { httpEventV2, mapLambdaResponse, type GatewayRequest } from '../../../local-cloud/apigateway/events';
import { selectHttpRoute, selectionValue } from '../../../local-cloud/apigateway/routes';
import { ApiGatewayTemplate, functionArnOf, logGroupOfArn } from '../../../local-cloud/apigateway/template';
import { TokenBuckets } from '../../../local-cloud/apigateway/throttle';

const routes = [
  'GET /orders',
  'GET /orders/{orderId}',
  'ANY /orders/{orderId}',
  'DELETE /orders/{orderId}',
  'GET /orders/open',
  'ANY /{proxy+}',
  'GET /static/{path+}',
  '$default',
].map((routeKey) => ({ routeKey }));
const select = (method: string, path: string) => {
  const m = selectHttpRoute(routes, method, path);
  return m && [m.route.routeKey, m.pathParameters];
};

describe('HTTP API route selection (AWS precedence)', () => {
  it('prefers literal segments, then {param}, then greedy, then $default; a method over ANY', () => {
    expect(select('GET', '/orders/open')).toEqual(['GET /orders/open', {}]);
    expect(select('GET', '/orders/o-1')).toEqual(['GET /orders/{orderId}', { orderId: 'o-1' }]);
    expect(select('POST', '/orders/o%201')).toEqual(['ANY /orders/{orderId}', { orderId: 'o 1' }]);
    expect(select('DELETE', '/orders/o-1')).toEqual(['DELETE /orders/{orderId}', { orderId: 'o-1' }]);
    expect(select('GET', '/static/a/b.js')).toEqual(['GET /static/{path+}', { path: 'a/b.js' }]);
    expect(select('PUT', '/x/y')).toEqual(['ANY /{proxy+}', { proxy: 'x/y' }]);
    expect(select('GET', '/')).toEqual(['$default', {}]);
    expect(selectHttpRoute([{ routeKey: 'GET /a' }], 'GET', '/b')).toBeUndefined();
  });

  it('evaluates WebSocket route selection expressions on JSON bodies', () => {
    expect(selectionValue('$request.body.action', '{"action":"subscribe"}')).toBe('subscribe');
    expect(selectionValue('$request.body.msg.type', '{"msg":{"type":"t"}}')).toBe('t');
    expect(selectionValue('$request.body.action', 'not json')).toBeUndefined();
    expect(selectionValue('$request.body.action', '{"other":1}')).toBeUndefined();
  });
});

const request: GatewayRequest = {
  apiId: 'abc123',
  stage: '$default',
  method: 'POST',
  rawPath: '/p',
  rawQueryString: 'a=1&a=2',
  headers: { 'x-h': ['1', '2'], cookie: 'k=v; j=w', 'content-type': 'application/json', 'user-agent': 'ua' },
  body: Buffer.from('{"a":1}'),
  sourceIp: '127.0.0.1',
  domainName: 'abc123.execute-api.localhost.localstack.cloud',
  requestId: 'r-1',
  timeEpoch: Date.UTC(2020, 2, 12, 19, 3, 58),
};

describe('payload format 2.0', () => {
  it('builds the event AWS sends', () => {
    const e = httpEventV2(request, { routeKey: 'POST /p', pathParameters: {}, stageVariables: {} });
    expect(e).toMatchObject({
      version: '2.0',
      cookies: ['k=v', 'j=w'],
      headers: { 'x-h': '1,2', 'content-type': 'application/json', 'user-agent': 'ua' },
      queryStringParameters: { a: '1,2' },
      body: '{"a":1}',
      isBase64Encoded: false,
      requestContext: { time: '12/Mar/2020:19:03:58 +0000', domainPrefix: 'abc123', http: { userAgent: 'ua' } },
    });
    expect(e).not.toHaveProperty('pathParameters');
  });

  it('maps structured, inferred and malformed responses', () => {
    expect(mapLambdaResponse({ statusCode: 204, multiValueHeaders: { 'X-A': ['1', '2'] } }, '2.0')).toEqual({
      statusCode: 204,
      headers: { 'x-a': ['1', '2'] },
      body: Buffer.alloc(0),
    });
    expect(mapLambdaResponse('plain', '2.0')?.body.toString()).toBe('plain');
    expect(mapLambdaResponse({ ok: true }, '2.0')?.body.toString()).toBe('{"ok":true}');
    expect(mapLambdaResponse({ ok: true }, '1.0')).toBeUndefined();
    expect(mapLambdaResponse({ statusCode: 'x' }, '2.0')).toBeUndefined();
    expect(mapLambdaResponse({ statusCode: 200, body: { not: 'a string' } }, '2.0')).toBeUndefined();
  });
});

describe('authorizers, throttling, access logs (pure parts)', () => {
  const arn = 'arn:aws:execute-api:us-east-1:000000000000:abc/$default/GET/orders';
  const policy = (effect: string, resource: string) => ({
    principalId: 'p',
    policyDocument: { Statement: [{ Effect: effect, Action: 'execute-api:Invoke', Resource: resource }] },
    context: { k: 'v' },
  });
  it('honours IAM policy responses: Allow on a matching ARN, Deny wins, simple responses', () => {
    expect(evaluateAuthorizerResponse(policy('Allow', 'arn:aws:execute-api:*:*:abc/*'), arn, false)).toEqual({
      allowed: true,
      principalId: 'p',
      context: { k: 'v' },
    });
    expect(evaluateAuthorizerResponse(policy('Allow', 'arn:aws:execute-api:*:*:other/*'), arn, false)?.allowed).toBe(
      false,
    );
    expect(evaluateAuthorizerResponse(policy('Deny', arn), arn, false)?.allowed).toBe(false);
    expect(evaluateAuthorizerResponse({ isAuthorized: true }, arn, true)?.allowed).toBe(true);
    expect(evaluateAuthorizerResponse('nonsense', arn, false)).toBeUndefined();
  });

  it('reads identity sources from headers and query strings', () => {
    const q = new URLSearchParams('token=t1');
    expect(identityValue('$request.header.Authorization', { authorization: 'x' }, q)).toBe('x');
    expect(identityValue('route.request.querystring.token', {}, q)).toBe('t1');
    expect(identityValue('$context.whatever', {}, q)).toBeUndefined();
  });

  it('refills a token bucket at the rate, up to the burst', () => {
    let now = 0;
    const b = new TokenBuckets(() => now);
    const limit = { rateLimit: 2, burstLimit: 3 };
    expect([1, 2, 3, 4].map(() => b.take('k', limit))).toEqual([true, true, true, false]);
    now = 500;
    expect([b.take('k', limit), b.take('k', limit)]).toEqual([true, false]);
  });

  it('formats access log lines, JSON-escaped inside JSON formats', () => {
    expect(
      formatAccessLog('$context.requestId $context.status $context.missing', { requestId: 'r', status: 200 }),
    ).toBe('r 200 -');
    expect(formatAccessLog('{"p":"$context.path"}', { path: '/a"b' })).toBe('{"p":"/a\\"b"}');
  });
});

describe('template → API specs', () => {
  it('links routes to integrations and authorizers, and names what is wrong', () => {
    const t = new ApiGatewayTemplate('S', 'us-east-1', (arn) => (arn.endsWith(':function:f') ? 'F' : undefined));
    const api = t.add('Api', 'AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
    expect(api.attrs.ApiEndpoint).toBe(`wss://${api.ref}.execute-api.us-east-1.amazonaws.com`);
    const fnArn = 'arn:aws:lambda:us-east-1:000000000000:function:f';
    const integ = t.add('I', 'AWS::ApiGatewayV2::Integration', {
      ApiId: api.ref,
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: `arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/${fnArn}/invocations`,
    });
    const r = t.add('R', 'AWS::ApiGatewayV2::Route', {
      ApiId: api.ref,
      RouteKey: 'send',
      Target: `integrations/${integ.ref}`,
    });
    t.add('RR', 'AWS::ApiGatewayV2::RouteResponse', { ApiId: api.ref, RouteId: r.ref, RouteResponseKey: '$default' });
    t.add('St', 'AWS::ApiGatewayV2::Stage', {
      ApiId: api.ref,
      StageName: 'live',
      AccessLogSettings: { DestinationArn: 'arn:aws:logs:us-east-1:0:log-group:/g:*' },
    });
    const [spec] = t.build();
    expect(spec?.routes[0]).toMatchObject({
      routeKey: 'send',
      integrationId: integ.ref,
      routeResponseKeys: ['$default'],
    });
    expect(spec?.integrations[0]).toMatchObject({
      functionLogicalId: 'F',
      payloadFormatVersion: '1.0',
      timeoutMs: 29_000,
    });
    expect(spec?.stages[0]?.accessLog?.logGroup).toBe('/g');
    expect(functionArnOf(fnArn)).toBe(fnArn);
    expect(() => logGroupOfArn('arn:aws:s3:::b')).toThrow(/not a CloudWatch Logs log group ARN/);
    expect(() => t.add('X', 'AWS::ApiGatewayV2::Api', { ProtocolType: 'REST' })).toThrow(/HTTP or WEBSOCKET/);
    const bad = new ApiGatewayTemplate('S', 'us-east-1', () => undefined);
    const a2 = bad.add('Api', 'AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    bad.add('R', 'AWS::ApiGatewayV2::Route', { ApiId: a2.ref, RouteKey: 'GET /', Target: 'integrations/nope' });
    expect(() => bad.build()).toThrow(/integrations\/nope is not in API/);
  });
});
