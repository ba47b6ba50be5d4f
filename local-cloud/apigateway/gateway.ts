import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { BodyTooLarge, readBody } from '../edge/body';
import type { InvokeResult, Invoker } from '../runtime/types';
import { formatAccessLog } from './access-log';
import {
  evaluateAuthorizerResponse,
  FORBIDDEN,
  identityValue,
  JwtVerifier,
  UNAUTHORIZED,
  verifySigV4,
  type Authorized,
  type JwksResolver,
  type Refusal,
} from './auth';
import {
  clfTime,
  httpEventV1,
  httpEventV2,
  LOCAL_ACCOUNT,
  mapLambdaResponse,
  type GatewayRequest,
  type HttpResponse,
} from './events';
import { selectHttpRoute } from './routes';
import type { ApiSpec, AuthorizerSpec, IntegrationSpec, RouteSpec, StageSpec } from './template';
import { TokenBuckets } from './throttle';

/** The path prefix LocalStack documents for local execute-api URLs: `/_aws/execute-api/<apiId>/<stage>/<path>`. */
export const EXECUTE_API_PREFIX = '/_aws/execute-api/';
/** LocalStack's host-based form: `<apiId>.execute-api.localhost.localstack.cloud:<port>/<stage>/<path>`. */
const EXECUTE_API_HOST = /^([a-z0-9]+)\.execute-api\.localhost\.localstack\.cloud(?::\d+)?$/i;
/** HTTP APIs' payload limit. */
export const MAX_HTTP_BODY_BYTES = 10 * 1024 * 1024;

export interface ApiGatewayOptions {
  region?: string;
  /** JWKS of JWT issuers known locally (the local Cognito IdP); others are fetched from `<issuer>/.well-known/jwks.json`. */
  resolveJwks?: JwksResolver;
  /** Access key id → secret the IAM (SigV4) check verifies against; default the emulators' `test`/`test`. */
  iamCredentials?: Record<string, string>;
  /** Writes one access log line to a CloudWatch Logs group (the edge's logs emulator). */
  writeAccessLog?: (logGroup: string, stream: string, message: string) => void;
  now?: () => number;
}

/** Which function a stack's logical id runs as, now (a redeploy replaces them). */
export type FunctionResolver = (stackName: string, logicalId: string) => Invoker | undefined;

/** An execute-api request: its API id and the path after it (stage included). */
export interface ExecuteApiTarget {
  apiId: string;
  path: string;
  query: string;
  hostBased: boolean;
}

export interface Resolved {
  api: ApiSpec;
  stage: StageSpec;
  /** The path after the stage, for route matching. */
  routePath: string;
  /** The path as AWS's execute-api host sees it (`/<stage>/…` for a named stage). */
  rawPath: string;
}

/**
 * The local invoke URL of each stage of an API on an edge endpoint: `<edge>/_aws/execute-api/<apiId>[/<stage>]` for
 * HTTP (no stage segment for `$default`), `ws://<edge host>/_aws/execute-api/<apiId>/<stage>` for WebSocket.
 */
export function invokeUrls(endpoint: string, api: ApiSpec): string[] {
  const base = `${endpoint}${EXECUTE_API_PREFIX}${api.id}`;
  return api.stages.map((s) => {
    if (api.protocol === 'WEBSOCKET') return `${base.replace(/^http/, 'ws')}/${s.name}`;
    return s.name === '$default' ? base : `${base}/${s.name}`;
  });
}

/** `$context` values the request's handling learns (caller, integration latency and error) for the access log. */
type AccessLogContext = Record<string, string | number | undefined>;

/** What a request ends in: the function's mapped response, or API Gateway's own `{"message"}` answer. */
type Outcome = HttpResponse | Refusal | { status: number; message: string; headers?: Record<string, string> };

/** A JSON error body as API Gateway sends it: `{"message":"…"}`. */
export function sendMessage(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.destroy();
  const body = JSON.stringify({ message });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/**
 * API Gateway v2 for the embedded cloud: serves the HTTP APIs of every deployed stack on the edge (Lambda proxy
 * integrations, JWT / IAM / Lambda authorizers, stage throttling, access logs). The WebSocket side and the control
 * plane build on it (websocket.ts, control-plane.ts).
 */
export class ApiGateway {
  readonly region: string;
  readonly now: () => number;
  private readonly stacks = new Map<string, ApiSpec[]>();
  private readonly buckets: TokenBuckets;
  private readonly jwt: JwtVerifier;
  private functions: FunctionResolver = () => undefined;

  constructor(private readonly opts: ApiGatewayOptions = {}) {
    this.region = opts.region ?? 'us-east-1';
    this.now = opts.now ?? Date.now;
    this.buckets = new TokenBuckets(this.now);
    this.jwt = new JwtVerifier(opts.resolveJwks);
  }

  /** Where the integrations' functions are found (the local Lambda runtime, once it runs). */
  setFunctions(resolver: FunctionResolver): void {
    this.functions = resolver;
  }

  /** Serves a stack's APIs as just deployed (none when it is deleted). */
  apply(stackName: string, apis: ApiSpec[] | undefined): void {
    for (const old of this.stacks.get(stackName) ?? []) this.buckets.clear(`${old.id}/`);
    if (apis && apis.length > 0) this.stacks.set(stackName, apis);
    else this.stacks.delete(stackName);
  }

  apis(): ApiSpec[] {
    return [...this.stacks.values()].flat();
  }

  api(id: string): ApiSpec | undefined {
    return this.apis().find((a) => a.id === id);
  }

  /** The API id and path of an execute-api request (LocalStack's path or host form); undefined for any other. */
  target(req: IncomingMessage): ExecuteApiTarget | undefined {
    const [path = '/', query = ''] = (req.url ?? '/').split('?');
    if (path.startsWith(EXECUTE_API_PREFIX)) {
      const rest = path.slice(EXECUTE_API_PREFIX.length);
      const slash = rest.indexOf('/');
      const apiId = slash < 0 ? rest : rest.slice(0, slash);
      return { apiId, path: slash < 0 ? '/' : rest.slice(slash), query, hostBased: false };
    }
    const host = EXECUTE_API_HOST.exec(String(req.headers.host ?? ''));
    return host?.[1] ? { apiId: host[1].toLowerCase(), path, query, hostBased: true } : undefined;
  }

  /**
   * The stage a path names: its first segment when a stage of that name exists, else `$default` (whose URLs have no
   * stage segment), as on AWS.
   */
  resolve(api: ApiSpec, path: string): Resolved | undefined {
    const segments = path.split('/');
    const first = segments[1] ?? '';
    const named = api.stages.find((s) => s.name !== '$default' && s.name === first);
    if (named) {
      const routePath = `/${segments.slice(2).join('/')}`;
      return { api, stage: named, routePath, rawPath: path };
    }
    const fallback = api.stages.find((s) => s.name === '$default');
    return fallback ? { api, stage: fallback, routePath: path, rawPath: path } : undefined;
  }

  invoker(api: ApiSpec, logicalId: string | undefined): Invoker | undefined {
    return logicalId ? this.functions(api.stackName, logicalId) : undefined;
  }

  /** Takes a token for the route from its stage's bucket (RouteSettings first, then DefaultRouteSettings). */
  admit(api: ApiSpec, stage: StageSpec, routeKey: string): boolean {
    return this.buckets.take(`${api.id}/${stage.name}/${routeKey}`, stage.routeThrottles[routeKey] ?? stage.throttle);
  }

  accessLog(api: ApiSpec, stage: StageSpec, context: Record<string, string | number | undefined>): void {
    if (!stage.accessLog || !this.opts.writeAccessLog) return;
    const line = formatAccessLog(stage.accessLog.format, context);
    this.opts.writeAccessLog(stage.accessLog.logGroup, `${api.id}_${stage.name}`, line);
  }

  /** The SigV4 check of IAM-authorized routes and of the @connections API. */
  verifyIam(req: IncomingMessage, body: Buffer): Promise<Authorized> {
    const credentials = this.opts.iamCredentials ?? { test: 'test' };
    return verifySigV4(
      { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      'execute-api',
      credentials,
      this.now(),
    );
  }

  /** Invokes an integration's function, answering 503 past the integration timeout as API Gateway does. */
  async invoke(
    api: ApiSpec,
    integration: IntegrationSpec,
    event: unknown,
  ): Promise<InvokeResult | 'timeout' | 'missing'> {
    const fn = this.invoker(api, integration.functionLogicalId);
    if (!fn) return 'missing';
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), integration.timeoutMs);
    });
    try {
      return await Promise.race([fn.invoke(event), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Runs a Lambda REQUEST authorizer: its IAM policy (or simple response) decides; 401 without identity. */
  async lambdaAuthorize(
    api: ApiSpec,
    authorizer: AuthorizerSpec,
    identity: (string | undefined)[],
    event: Record<string, unknown>,
    methodArn: string,
  ): Promise<Authorized & { principalId?: string }> {
    if (identity.some((v) => v === undefined || v === '')) return { ok: false, refusal: UNAUTHORIZED };
    const fn = this.invoker(api, authorizer.functionLogicalId);
    if (!fn) return { ok: false, refusal: { status: 500, message: 'Internal Server Error' } };
    const result = await fn.invoke(event);
    if (!result.ok) return { ok: false, refusal: { status: 500, message: 'Internal Server Error' } };
    const decision = evaluateAuthorizerResponse(result.payload, methodArn, authorizer.enableSimpleResponses);
    if (!decision) return { ok: false, refusal: { status: 500, message: 'Internal Server Error' } };
    if (!decision.allowed) return { ok: false, refusal: FORBIDDEN };
    return {
      ok: true,
      authorizer: decision.context,
      ...(decision.principalId ? { principalId: decision.principalId } : {}),
    };
  }

  methodArn(api: ApiSpec, stage: string, suffix: string): string {
    return `arn:aws:execute-api:${this.region}:${LOCAL_ACCOUNT}:${api.id}/${stage}/${suffix}`;
  }

  /** Serves one HTTP API request end to end. */
  async handleHttp(req: IncomingMessage, res: ServerResponse, target: ExecuteApiTarget): Promise<void> {
    const started = this.now();
    const requestId = randomUUID();
    res.setHeader('apigw-requestid', requestId);
    const api = this.api(target.apiId);
    const resolved = api?.protocol === 'HTTP' ? this.resolve(api, target.path) : undefined;
    if (!api || !resolved) return sendMessage(res, 404, 'Not Found');
    let body: Buffer;
    try {
      body = await readBody(req, MAX_HTTP_BODY_BYTES);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      res.setHeader('connection', 'close');
      sendMessage(res, 413, 'Request Entity Too Large');
      res.once('finish', () => req.destroy());
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const match = selectHttpRoute(api.routes, method, resolved.routePath);
    const gatewayRequest: GatewayRequest = {
      apiId: api.id,
      stage: resolved.stage.name,
      method,
      rawPath: resolved.rawPath,
      rawQueryString: target.query,
      headers: req.headers,
      body,
      sourceIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      domainName: target.hostBased
        ? (String(req.headers.host).split(':')[0] as string)
        : `${api.id}.execute-api.localhost.localstack.cloud`,
      requestId,
      timeEpoch: started,
    };
    const log: AccessLogContext = {};
    const outcome = match
      ? await this.serveRoute(req, gatewayRequest, resolved, match.route, match.pathParameters, log)
      : { status: 404, message: 'Not Found' };
    this.send(res, outcome);
    const status = 'statusCode' in outcome ? outcome.statusCode : outcome.status;
    const length = 'statusCode' in outcome ? outcome.body.length : Buffer.byteLength(JSON.stringify(outcome));
    this.accessLog(api, resolved.stage, {
      ...log,
      requestId,
      extendedRequestId: requestId,
      apiId: api.id,
      stage: resolved.stage.name,
      httpMethod: method,
      path: resolved.rawPath,
      routeKey: match?.route.routeKey ?? '-',
      status,
      protocol: 'HTTP/1.1',
      responseLength: length,
      requestTime: clfTime(started),
      requestTimeEpoch: started,
      'identity.sourceIp': gatewayRequest.sourceIp,
      'identity.userAgent': String(req.headers['user-agent'] ?? ''),
      'error.message': 'message' in outcome ? outcome.message : undefined,
      responseLatency: this.now() - started,
    });
  }

  private send(res: ServerResponse, outcome: Outcome): void {
    if ('statusCode' in outcome) {
      if (!outcome.headers['content-type'] && outcome.body.length > 0)
        res.setHeader('content-type', 'application/json');
      for (const [k, v] of Object.entries(outcome.headers)) res.setHeader(k, v.length === 1 ? (v[0] as string) : v);
      res.setHeader('content-length', outcome.body.length);
      res.writeHead(outcome.statusCode);
      res.end(outcome.body);
      return;
    }
    sendMessage(res, outcome.status, outcome.message, outcome.headers);
  }

  private async serveRoute(
    req: IncomingMessage,
    gatewayRequest: GatewayRequest,
    resolved: Resolved,
    route: RouteSpec,
    pathParameters: Record<string, string>,
    log: AccessLogContext,
  ): Promise<Outcome> {
    const { api, stage } = resolved;
    if (!this.admit(api, stage, route.routeKey)) return { status: 429, message: 'Too Many Requests' };
    const auth = await this.authorizeHttp(req, gatewayRequest, resolved, route, pathParameters);
    if (!auth.ok) return auth.refusal;
    const iam = auth.authorizer?.iam as { accessKey?: string; userArn?: string } | undefined;
    if (iam)
      Object.assign(log, {
        'identity.caller': iam.accessKey,
        'identity.user': iam.accessKey,
        'identity.userArn': iam.userArn,
      });
    const integration = api.integrations.find((i) => i.id === route.integrationId);
    if (!integration) return { status: 500, message: 'Internal Server Error' };
    const context = {
      routeKey: route.routeKey,
      pathParameters,
      stageVariables: stage.stageVariables,
      ...(auth.authorizer ? { authorizer: auth.authorizer } : {}),
    };
    const event =
      integration.payloadFormatVersion === '2.0'
        ? httpEventV2(gatewayRequest, context)
        : httpEventV1(gatewayRequest, context);
    const invoked = this.now();
    const result = await this.invoke(api, integration, event);
    log.integrationLatency = this.now() - invoked;
    if (result === 'timeout') {
      log.integrationErrorMessage = `Integration timeout after ${integration.timeoutMs} ms`;
      return { status: 503, message: 'Service Unavailable' };
    }
    if (result === 'missing' || !result.ok) {
      log.integrationErrorMessage = result === 'missing' ? 'function not running' : result.error.errorMessage;
      return { status: 500, message: 'Internal Server Error' };
    }
    return (
      mapLambdaResponse(result.payload, integration.payloadFormatVersion) ?? {
        status: 500,
        message: 'Internal Server Error',
      }
    );
  }

  private async authorizeHttp(
    req: IncomingMessage,
    gatewayRequest: GatewayRequest,
    resolved: Resolved,
    route: RouteSpec,
    pathParameters: Record<string, string>,
  ): Promise<{ ok: true; authorizer?: Record<string, unknown> } | { ok: false; refusal: Refusal }> {
    const { api } = resolved;
    if (route.authorizationType === 'NONE') return { ok: true };
    if (route.authorizationType === 'AWS_IAM') return this.verifyIam(req, gatewayRequest.body);
    const authorizer = api.authorizers.find((a) => a.id === route.authorizerId) as AuthorizerSpec;
    const query = new URLSearchParams(gatewayRequest.rawQueryString);
    const identity = authorizer.identitySource.map((s) => identityValue(s, req.headers, query));
    if (authorizer.type === 'JWT' && authorizer.jwt) {
      return this.jwt.verify(identity[0], authorizer.jwt, route.scopes);
    }
    const routeArn = this.methodArn(api, resolved.stage.name, `${gatewayRequest.method}${resolved.routePath}`);
    const context = { routeKey: route.routeKey, pathParameters, stageVariables: resolved.stage.stageVariables };
    const base =
      authorizer.payloadFormatVersion === '2.0'
        ? httpEventV2(gatewayRequest, context)
        : httpEventV1(gatewayRequest, context);
    const event =
      authorizer.payloadFormatVersion === '2.0'
        ? { ...base, type: 'REQUEST', routeArn, identitySource: identity }
        : { ...base, type: 'REQUEST', methodArn: routeArn };
    const decided = await this.lambdaAuthorize(api, authorizer, identity, event, routeArn);
    if (!decided.ok) return decided;
    const lambda = { ...decided.authorizer, ...(decided.principalId ? { principalId: decided.principalId } : {}) };
    return { ok: true, authorizer: authorizer.payloadFormatVersion === '2.0' ? { lambda } : lambda };
  }
}
