import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { BodyTooLarge, readBody } from '../edge/body';
import { identityValue, type Refusal } from './auth';
import { clfTime, LOCAL_ACCOUNT, queryParameters } from './events';
import type { ApiGateway, ExecuteApiTarget, Resolved } from './gateway';
import { selectionValue } from './routes';
import type { ApiSpec, RouteSpec } from './template';

/** WebSocket APIs' message (and @connections payload) limit. */
export const MAX_MESSAGE_BYTES = 128 * 1024;
/** API Gateway closes a connection idle this long, and any connection after two hours. */
const IDLE_TIMEOUT_MS = 10 * 60_000;
const MAX_DURATION_MS = 2 * 60 * 60_000;
/** A local cap on open connections (AWS's is an account quota); beyond it $connect is refused with 429. */
const DEFAULT_MAX_CONNECTIONS = 2_000;
const CONNECTIONS_PATH = /^\/([^/]+)\/@connections\/([^/]+)$/;

export interface WebSocketLimits {
  maxConnections?: number;
  idleTimeoutMs?: number;
}

interface Connection {
  id: string;
  api: ApiSpec;
  stage: Resolved['stage'];
  ws: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  /** requestContext.authorizer of every event on this connection (what $connect's authorizer returned). */
  authorizer?: Record<string, unknown>;
  idle?: NodeJS.Timeout;
  maxDuration: NodeJS.Timeout;
}

/**
 * WebSocket APIs on the edge (the `ws` package does the protocol): `$connect` authorized and integrated before the
 * upgrade completes, route selection by the API's RouteSelectionExpression, two-way routes, `$disconnect`, and the
 * @connections management API the backend posts to.
 */
export class WebSocketGateway {
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<string, Connection>();
  private readonly maxConnections: number;
  private readonly idleTimeoutMs: number;
  private pending = 0;

  constructor(
    private readonly gw: ApiGateway,
    limits: WebSocketLimits = {},
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
    this.maxConnections = limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.idleTimeoutMs = limits.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  }

  /**
   * After a deploy: connections go on with their API's new routes and integrations; those whose API or stage is gone
   * are closed (1001), as deleting an API does on AWS.
   */
  refresh(): void {
    for (const c of [...this.connections.values()]) {
      const api = this.gw.api(c.api.id);
      const stage = api?.stages.find((s) => s.name === c.stage.name);
      if (api && stage) Object.assign(c, { api, stage });
      else c.ws.close(1001, 'Going away');
    }
  }

  isConnectionsRequest(target: ExecuteApiTarget): boolean {
    return CONNECTIONS_PATH.test(target.path);
  }

  /** Closes every connection (the edge is stopping); `$disconnect` is not invoked for them. */
  close(): void {
    for (const c of this.connections.values()) this.drop(c);
    this.wss.close();
  }

  /** A WebSocket upgrade request: `$connect` runs, then the upgrade completes or the client gets API Gateway's refusal. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: ExecuteApiTarget): Promise<void> {
    const api = this.gw.api(target.apiId);
    const resolved = api?.protocol === 'WEBSOCKET' ? this.gw.resolve(api, target.path) : undefined;
    if (!api || !resolved || resolved.routePath !== '/') return refuseUpgrade(socket, 404, 'Not Found');
    if (this.connections.size + this.pending >= this.maxConnections || !this.gw.admit(api, resolved.stage, '$connect'))
      return refuseUpgrade(socket, 429, 'Too Many Requests');
    this.pending++;
    try {
      const id = randomBytes(11).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
      const now = this.gw.now();
      const connection = { id, api, stage: resolved.stage, connectedAt: now, lastActiveAt: now } as Connection;
      connection.sourceIp = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1';
      connection.userAgent = String(req.headers['user-agent'] ?? '');
      const refusal = await this.connect(req, target, connection);
      if (refusal) return refuseUpgrade(socket, refusal.status, refusal.message);
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(connection, ws));
    } finally {
      this.pending--;
    }
  }

  /** Authorizes and runs `$connect`; a refusal means the upgrade is answered with it instead. */
  private async connect(req: IncomingMessage, target: ExecuteApiTarget, c: Connection): Promise<Refusal | undefined> {
    const route = c.api.routes.find((r) => r.routeKey === '$connect');
    if (!route) return undefined;
    const query = queryParameters(target.query);
    const multiValueHeaders: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) multiValueHeaders[k] = [v].flat();
    const headers = Object.fromEntries(Object.entries(multiValueHeaders).map(([k, v]) => [k, v.join(',')]));
    const requestParts = {
      headers,
      multiValueHeaders,
      queryStringParameters: Object.keys(query.joined).length > 0 ? query.joined : undefined,
      multiValueQueryStringParameters: Object.keys(query.multi).length > 0 ? query.multi : undefined,
    };
    const requestId = randomUUID();
    if (route.authorizationType === 'AWS_IAM') {
      const iam = await this.gw.verifyIam(req, Buffer.alloc(0));
      if (!iam.ok) return iam.refusal;
      c.authorizer = iam.authorizer;
    } else if (route.authorizationType === 'CUSTOM') {
      const authorizer = c.api.authorizers.find((a) => a.id === route.authorizerId);
      if (!authorizer) return { status: 500, message: 'Internal Server Error' };
      const methodArn = this.gw.methodArn(c.api, c.stage.name, '$connect');
      const params = new URLSearchParams(target.query);
      const identity = authorizer.identitySource.map((s) => identityValue(s, req.headers, params));
      const event = {
        type: 'REQUEST',
        methodArn,
        ...requestParts,
        stageVariables: c.stage.stageVariables,
        requestContext: this.requestContext(c, route, 'CONNECT', requestId),
      };
      const decided = await this.gw.lambdaAuthorize(c.api, authorizer, identity, event, methodArn);
      if (!decided.ok) return decided.refusal;
      c.authorizer = { ...decided.authorizer, ...(decided.principalId ? { principalId: decided.principalId } : {}) };
    }
    if (!route.integrationId) return undefined;
    const result = await this.invokeRoute(c, route, {
      ...requestParts,
      requestContext: this.requestContext(c, route, 'CONNECT', requestId),
      isBase64Encoded: false,
    });
    if (result === undefined) return { status: 500, message: 'Internal Server Error' };
    // A $connect function refuses the connection by answering an error status, which the client gets.
    const status = statusOf(result);
    return status >= 400 ? { status: status as Refusal['status'], message: REASONS[status] ?? 'Forbidden' } : undefined;
  }

  private accept(c: Connection, ws: WebSocket): void {
    c.ws = ws;
    c.maxDuration = setTimeout(() => ws.close(1001, 'Going away'), MAX_DURATION_MS);
    this.touch(c);
    this.connections.set(c.id, c);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.touch(c);
      void this.onMessage(c, rawBytes(data), isBinary);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (this.connections.get(c.id) !== c) return;
      this.drop(c);
      const route = c.api.routes.find((r) => r.routeKey === '$disconnect');
      if (!route?.integrationId) return;
      void this.invokeRoute(c, route, {
        headers: {},
        requestContext: {
          ...this.requestContext(c, route, 'DISCONNECT', randomUUID()),
          disconnectStatusCode: code,
          disconnectReason: reason.toString('utf8'),
        },
        isBase64Encoded: false,
      });
    });
    ws.on('error', () => ws.terminate());
  }

  private drop(c: Connection): void {
    this.connections.delete(c.id);
    clearTimeout(c.idle);
    clearTimeout(c.maxDuration);
    if (c.ws.readyState === c.ws.OPEN || c.ws.readyState === c.ws.CONNECTING) c.ws.terminate();
  }

  private touch(c: Connection): void {
    c.lastActiveAt = this.gw.now();
    clearTimeout(c.idle);
    c.idle = setTimeout(() => c.ws.close(1001, 'Going away'), this.idleTimeoutMs);
  }

  /** Selects the route by the API's RouteSelectionExpression (else `$default`), invokes it, answers two-way routes. */
  private async onMessage(c: Connection, data: Buffer, isBinary: boolean): Promise<void> {
    const requestId = randomUUID();
    const body = isBinary ? data.toString('base64') : data.toString('utf8');
    // Binary frames are passed on base64-encoded and select no route by their content ($default takes them).
    const key = isBinary ? undefined : selectionValue(c.api.routeSelectionExpression, body);
    const route =
      c.api.routes.find((r) => key !== undefined && r.routeKey === key) ??
      c.api.routes.find((r) => r.routeKey === '$default');
    const reply = (message: string) => this.send(c, JSON.stringify({ message, connectionId: c.id, requestId }));
    if (!route?.integrationId) return reply('Forbidden');
    if (!this.gw.admit(c.api, c.stage, route.routeKey)) return reply('Too Many Requests');
    const result = await this.invokeRoute(c, route, {
      requestContext: { ...this.requestContext(c, route, 'MESSAGE', requestId), messageDirection: 'IN' },
      body,
      isBase64Encoded: isBinary,
    });
    if (result === undefined) return reply('Internal server error');
    if (route.routeResponseKeys.includes('$default')) this.send(c, responseBody(result));
  }

  /** The integration's answer, or undefined when it failed or timed out. */
  private async invokeRoute(c: Connection, route: RouteSpec, event: unknown): Promise<unknown> {
    const integration = c.api.integrations.find((i) => i.id === route.integrationId);
    if (!integration) return undefined;
    const result = await this.gw.invoke(c.api, integration, event);
    return typeof result === 'object' && result.ok ? (result.payload ?? null) : undefined;
  }

  private requestContext(c: Connection, route: RouteSpec, eventType: string, requestId: string) {
    const now = this.gw.now();
    return {
      routeKey: route.routeKey,
      eventType,
      extendedRequestId: requestId,
      requestTime: clfTime(now),
      messageId: eventType === 'MESSAGE' ? randomBytes(11).toString('base64') : undefined,
      stage: c.stage.name,
      connectedAt: c.connectedAt,
      requestTimeEpoch: now,
      identity: { sourceIp: c.sourceIp, userAgent: c.userAgent },
      requestId,
      domainName: `${c.api.id}.execute-api.localhost.localstack.cloud`,
      connectionId: c.id,
      apiId: c.api.id,
      accountId: LOCAL_ACCOUNT,
      ...(c.authorizer ? { authorizer: c.authorizer } : {}),
    };
  }

  private send(c: Connection, data: string): void {
    if (c.ws.readyState === c.ws.OPEN) c.ws.send(data);
  }

  /** The @connections API: POST sends to a connection, GET describes it, DELETE closes it; 410 once it is gone. */
  async handleConnections(req: IncomingMessage, res: ServerResponse, target: ExecuteApiTarget): Promise<void> {
    const [, stage, rawId] = CONNECTIONS_PATH.exec(target.path) as unknown as [string, string, string];
    let body: Buffer;
    try {
      body = await readBody(req, MAX_MESSAGE_BYTES);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      res.setHeader('connection', 'close');
      return sendError(res, 413, 'PayloadTooLargeException', `Request body exceeds ${MAX_MESSAGE_BYTES} bytes`);
    }
    const iam = await this.gw.verifyIam(req, body);
    if (!iam.ok) return sendError(res, 403, 'ForbiddenException', iam.refusal.message);
    const c = this.connections.get(decodeURIComponent(rawId));
    if (!c || c.api.id !== target.apiId || c.stage.name !== stage) return sendError(res, 410, 'GoneException', null);
    switch (req.method) {
      case 'POST':
        this.send(c, body.toString('utf8'));
        res.writeHead(200).end();
        return;
      case 'GET': {
        // REST-JSON on the wire: the SDK maps these to ConnectedAt, Identity.SourceIp, LastActiveAt.
        const payload = JSON.stringify({
          connectedAt: new Date(c.connectedAt).toISOString(),
          identity: { sourceIp: c.sourceIp, userAgent: c.userAgent },
          lastActiveAt: new Date(c.lastActiveAt).toISOString(),
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end(payload);
        return;
      }
      case 'DELETE':
        c.ws.close(1000, 'Connection deleted');
        res.writeHead(204).end();
        return;
      default:
        sendError(res, 405, 'MethodNotAllowedException', `${req.method} is not supported on @connections`);
    }
  }
}

function rawBytes(data: RawData): Buffer {
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** A function's `statusCode`, 200 when it answers without one. */
function statusOf(payload: unknown): number {
  const s = (payload as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : 200;
}

/** What a two-way route sends back: the integration's `body`, or its whole answer when it has none. */
function responseBody(payload: unknown): string {
  if (typeof payload === 'string') return payload;
  const body = (payload as { body?: unknown } | null)?.body;
  if (typeof body === 'string') return body;
  return JSON.stringify(payload);
}

const REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** Answers an upgrade request with an HTTP error instead of switching protocols. */
function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function sendError(res: ServerResponse, status: number, type: string, message: string | null): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-errortype': type,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
