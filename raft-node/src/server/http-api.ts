import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  CancelRequestSchema,
  describeZodError,
  isCanonicalOrder,
  MAX_BATCH_ORDERS,
  OrderBatchInputSchema,
  OrderIdSchema,
  OrderInputSchema,
  type CancelRequest,
  type CancelResult,
  type Order,
  type OrderBatchResult,
  type OrderResult,
} from '../../../shared/domain/order';
import { requiredScope, type TokenVerifier } from '../../../shared/ledger-contract/auth';
import {
  JoinRequestSchema,
  HaltRequestSchema,
  NodeIdSchema,
  RiskLimitsUpdateSchema,
  type HaltInfo,
  type JoinRequest,
  type MemberInfo,
  type NodeStatus,
  type Position,
  type RiskLimits,
} from '../../../shared/ledger-contract';
import type { Socket } from 'node:net';
import type { HttpLimits } from '../config';
import type { NodeLogger } from '../logger';
import { ConnectionGate } from './connection-gate';
import type { PeerIdentity } from './bootstrap';

/**
 * The client-facing HTTP JSON API (issue 2's contract). Thin: validates, authenticates, and hands each
 * request to the node, which answers with an Outcome; this file turns outcomes into status codes.
 */

export type Outcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'not-leader'; leaderUrl: string | null }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'conflict'; reason: string }
  | { kind: 'not-found' };

export type { JoinRequest };

/** What the HTTP layer needs from the node. */
export interface LedgerNodeApi {
  applyOrder(order: Order): Promise<Outcome<OrderResult>>;
  /** Applies the orders atomically and in order, in one log entry. */
  applyOrders(orders: Order[]): Promise<Outcome<OrderBatchResult>>;
  /** The cancel command: decided by where it lands in the log relative to the order (ledger/state-machine.ts). */
  cancelOrder(cancel: CancelRequest): Promise<Outcome<CancelResult>>;
  setLimits(limits: Partial<RiskLimits>): Promise<Outcome<RiskLimits>>;
  setHalted(halted: boolean, reason?: string): Promise<Outcome<HaltInfo>>;
  getOrder(orderId: string): Promise<Outcome<OrderResult>>;
  positions(account?: string): Promise<Outcome<Position[]>>;
  limits(): Promise<Outcome<RiskLimits & HaltInfo>>;
  addMember(req: JoinRequest): Promise<Outcome<{ members: MemberInfo[]; clusterId: string | null }>>;
  removeMember(nodeId: string): Promise<Outcome<{ members: MemberInfo[] }>>;
  status(): NodeStatus & { authOpen: boolean };
  identityInfo(): PeerIdentity;
  isReady(): boolean;
}

const MAX_BODY_BYTES = 64 * 1024;
/**
 * POST /v1/orders/batch only: room for MAX_BATCH_ORDERS orders of up to 512 bytes each (the largest valid order is
 * ~320 bytes of compact JSON; the rest is slack for whitespace). 256,000 bytes at 500 orders.
 */
export const MAX_BATCH_BODY_BYTES = 512 * MAX_BATCH_ORDERS;
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Caps connections per listener and per address, and gives a new connection `firstMessageTimeoutMs` to deliver a
 * complete request: Node's headersTimeout only runs once a request has begun, so a socket that never sends a byte
 * would otherwise stay open until the peer goes away. Later requests on a kept-alive connection are bounded by
 * keepAliveTimeout (idle) and headersTimeout (started).
 */
function gateConnections(server: Server, gate: ConnectionGate): void {
  gate.attach(server);
  const firstRequest = new WeakMap<Socket, () => void>();
  server.on('connection', (socket: Socket) => {
    if (!socket.destroyed) firstRequest.set(socket, gate.deadline(socket));
  });
  server.on('request', (req: IncomingMessage) => {
    firstRequest.get(req.socket)?.();
    firstRequest.delete(req.socket);
  });
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** Event-driven rather than `for await` over the request: a cheaper path that every order takes. */
function readJson(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.off('end', onEnd);
        req.resume();
        reject(new HttpError(413, `body larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      req.off('error', reject);
      if (size === 0) return resolve({});
      try {
        resolve(JSON.parse(Buffer.concat(chunks, size).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'body is not valid JSON'));
      }
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
  });
}

/** A path segment, %-decoded; malformed %-encoding is the client's error, not ours. */
function pathParam(path: string, prefix: string): string {
  try {
    return decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new HttpError(400, `malformed %-encoding in the URL path: ${path}`);
  }
}

/** Parses the request target; a target that is not a valid URL path is a 400. */
function requestUrl(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://node');
  } catch {
    throw new HttpError(400, 'malformed request URL');
  }
}

const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * Every body this API takes is JSON. A body sent as anything else (a form, text/plain — what a browser may send
 * cross-origin without a preflight) is refused with 415 before it is read, on every route.
 */
function requireJsonBody(req: IncomingMessage): void {
  if (!hasBody(req)) return;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new HttpError(
      415,
      `content-type must be application/json, got ${type === '' ? 'none' : JSON.stringify(type)}`,
    );
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new HttpError(400, describeZodError(r.error));
  return r.data;
}

export interface HttpApiOptions {
  node: LedgerNodeApi;
  /** Checks scoped client tokens; without it the API is open (development only; the node warns). */
  verifier?: TokenVerifier;
  logger: NodeLogger;
  limits: HttpLimits;
  /** The binary client protocol's advertised host:port (binary-api.ts), or null when it is off. */
  binaryAddr?: string | null;
}

/**
 * The one authorization check of every route but the health checks: the route's scope (auth.ts requiredScope)
 * against the bearer token. 401 when the token is missing/invalid/expired, 403 when its scope is not enough;
 * both name the reason. Returns true when the request may proceed.
 */
function authorize(verifier: TokenVerifier | undefined, req: IncomingMessage, res: ServerResponse, path: string) {
  if (!verifier) return true;
  const method = req.method ?? 'GET';
  const verdict = verifier.check(req.headers.authorization, requiredScope(method, path));
  if (verdict.ok) return true;
  // Drain the body so a keep-alive connection stays usable; nothing is applied.
  req.resume();
  const headers: Record<string, string> =
    verdict.status === 401
      ? { 'www-authenticate': 'Bearer' }
      : { 'www-authenticate': 'Bearer error="insufficient_scope"' };
  send(res, verdict.status, { error: verdict.reason }, headers);
  return false;
}

// Over ~80 lines on purpose: a factory closure over its dependencies (the routes over one node, token verifier
// and set of limits); each inner function is short and one job, and moving them to module level would only thread
// `deps` through each.
export function createHttpApi(opts: HttpApiOptions): Server {
  const { node, verifier, logger } = opts;

  const reply = <T>(req: IncomingMessage, res: ServerResponse, outcome: Outcome<T>, okStatus = 200): void => {
    switch (outcome.kind) {
      case 'ok':
        return send(res, okStatus, outcome.value);
      case 'not-leader':
        if (outcome.leaderUrl) {
          const location = `${outcome.leaderUrl}${req.url ?? '/'}`;
          return send(res, 307, { leader: outcome.leaderUrl }, { location });
        }
        return send(res, 503, { error: 'no leader known; retry shortly' }, { 'retry-after': '1' });
      case 'unavailable':
        return send(res, 503, { error: outcome.reason }, { 'retry-after': '1' });
      case 'conflict':
        return send(res, 409, { error: outcome.reason });
      case 'not-found':
        return send(res, 404, { error: 'not found' });
    }
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = requestUrl(req);
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';

    if (path === '/healthz' && method === 'GET') return send(res, 200, { ok: true });
    if (path === '/readyz' && method === 'GET') {
      return node.isReady() ? send(res, 200, { ready: true }) : send(res, 503, { ready: false });
    }
    if (!authorize(verifier, req, res, path)) return;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') requireJsonBody(req);

    if (path === '/v1/orders' && method === 'POST') {
      const body = await readJson(req);
      // A canonical order (what clients normally send) needs no normalising: the schema only for the rest.
      const order = isCanonicalOrder(body) ? body : parse(OrderInputSchema, body);
      return reply(req, res, await node.applyOrder(order));
    }
    if (path === '/v1/orders/batch' && method === 'POST') {
      // Every order is validated before anything is proposed: a bad one (named by its index) refuses the batch.
      const batch = parse(OrderBatchInputSchema, await readJson(req, MAX_BATCH_BODY_BYTES));
      return reply(req, res, await node.applyOrders(batch.orders));
    }
    if (path === '/v1/orders/cancel' && method === 'POST') {
      const cancel = parse(CancelRequestSchema, await readJson(req));
      return reply(req, res, await node.cancelOrder(cancel));
    }
    if (path.startsWith('/v1/orders/') && method === 'GET') {
      const orderId = parse(OrderIdSchema, pathParam(path, '/v1/orders/'));
      return reply(req, res, await node.getOrder(orderId));
    }
    if (path === '/v1/positions' && method === 'GET') {
      const account = url.searchParams.get('account') ?? undefined;
      return reply(req, res, await node.positions(account || undefined));
    }
    if (path === '/v1/limits' && method === 'GET') return reply(req, res, await node.limits());
    if (path === '/v1/limits' && method === 'POST') {
      const limits = parse(RiskLimitsUpdateSchema, await readJson(req));
      return reply(req, res, await node.setLimits(limits));
    }
    if (path === '/v1/halt' && method === 'POST') {
      const { reason } = parse(HaltRequestSchema, await readJson(req));
      return reply(req, res, await node.setHalted(true, reason));
    }
    if (path === '/v1/resume' && method === 'POST') {
      req.resume();
      return reply(req, res, await node.setHalted(false));
    }
    if (path === '/v1/status' && method === 'GET') return send(res, 200, node.status());
    if (path === '/v1/identity' && method === 'GET') return send(res, 200, node.identityInfo());
    // `stamps`: its binary protocol answers the stamped request kinds (results with executedTs; wire.ts).
    if (path === '/v1/endpoints' && method === 'GET') {
      return send(res, 200, { binary: opts.binaryAddr ?? null, stamps: true });
    }
    if (path === '/v1/members' && method === 'POST') {
      const join = parse(JoinRequestSchema, await readJson(req));
      return reply(req, res, await node.addMember(join));
    }
    if (path.startsWith('/v1/members/') && method === 'DELETE') {
      const id = parse(NodeIdSchema, pathParam(path, '/v1/members/'));
      return reply(req, res, await node.removeMember(id));
    }
    req.resume();
    throw new HttpError(404, `no route for ${method} ${path}`);
  };

  const server = createServer(
    {
      keepAlive: true,
      keepAliveTimeout: opts.limits.keepAliveTimeoutMs,
      // Node's default, stated: larger headers get 431.
      maxHeaderSize: MAX_HEADER_BYTES,
      // headersTimeout/requestTimeout are enforced by this periodic check; the default (30 s) is too coarse.
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      route(req, res).catch((err: unknown) => {
        if (err instanceof HttpError) {
          if (!res.headersSent) send(res, err.status, { error: err.message });
          return;
        }
        logger.error('request failed', { method: req.method, url: req.url, error: err as Error });
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
      });
    },
  );
  server.headersTimeout = opts.limits.firstMessageTimeoutMs;
  server.requestTimeout = opts.limits.requestTimeoutMs;
  gateConnections(server, new ConnectionGate('http', opts.limits, logger));
  return server;
}
