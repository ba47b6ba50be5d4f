import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { CancelResult, Order, OrderBatchResult, OrderResult } from '../domain/order';
import { decodeScopedKey, requiredScope, TokenSource } from '../ledger-contract/auth';
import type { HaltInfo, NodeStatus, Position, RiskLimits } from '../ledger-contract';
import type { LedgerAdminClient, LedgerClient } from './types';
import { hasStampedForm, Kind } from '../ledger-contract/wire';
import { BinaryTransport, WireTransportError, type WireCall } from './binary-transport';
import { sleep } from '../util/wait';

/**
 * Client for the Raft ledger. Orders and order reads go over the binary protocol (binary-transport.ts) to every
 * node that offers one (its GET /v1/endpoints names the address), everything else and every node without one over
 * HTTP/JSON. Either way the same rules: finds the leader (following redirects to known members), retries 503s,
 * timeouts and connection errors with exponential backoff and full jitter, and — because a timed-out or broken
 * request may still have been applied — reads the order back by id before it sends it again. Resending is safe
 * anyway (the ledger dedups by orderId); the read-back just returns the first outcome sooner.
 */

export interface LedgerClientOptions {
  /** HTTP base URLs of the cluster members, e.g. http://10.0.0.1:8080. */
  members: string[];
  /**
   * RAFT_AUTH_SECRET of the cluster (operators, tests, local launchers): tokens of any scope are minted from it.
   * Without it and without clientKey, requests carry no credentials.
   */
  authSecret?: string;
  /** A scoped key (RAFT_CLIENT_KEY, auth.ts encodeScopedKey): mints tokens of its own scope only. */
  clientKey?: string;
  /** Per-request timeout (default 3000 ms). */
  requestTimeoutMs?: number;
  /** Attempts per call before giving up (default 10). */
  maxAttempts?: number;
  /** Backoff base and cap (defaults 25 ms and 1000 ms). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** 'binary' (default): orders and order reads over the binary protocol where a node offers it; 'http': never. */
  protocol?: 'binary' | 'http';
  /** Binary connections kept per node (default 2). */
  binaryConnections?: number;
  /** Bytes of unanswered binary requests per connection before more wait in the client (default 1 MiB). */
  maxInflightBytes?: number;
}

export class LedgerClientError extends Error {
  constructor(
    message: string,
    /** HTTP status of a definitive refusal (400, 401, 404 …); undefined when retries ran out. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'LedgerClientError';
  }
}

interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** One request: its HTTP form always, and its binary form when it has one. */
interface Op {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  wire?: WireCall;
}

/** A failure after which the request may or may not have reached the server. */
class TransportFailure extends Error {
  constructor(
    message: string,
    /** True when the request certainly was not delivered (e.g. connection refused). */
    readonly notSent: boolean,
  ) {
    super(message);
  }
}

/** Absolute URL → its origin (scheme://host:port), the unit a redirect is trusted by. */
const originOf = (url: string): string => {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
};

export interface ClosableLedgerClient extends LedgerClient, LedgerAdminClient {
  /** Closes idle keep-alive sockets. */
  close(): void;
}

// Over ~80 lines on purpose: a factory closure over its dependencies (the leader hint, learned members, keep-alive
// agents and the calls sharing them); each inner function is short and one job, and moving them to module level
// would only thread `deps` through each.
export function createLedgerClient(options: LedgerClientOptions): ClosableLedgerClient {
  if (options.members.length === 0) throw new LedgerClientError('members: at least one node URL is required');
  const members = options.members.map((m) => m.replace(/\/+$/, ''));
  const timeoutMs = options.requestTimeoutMs ?? 3_000;
  const maxAttempts = options.maxAttempts ?? 10;
  const baseMs = options.backoffBaseMs ?? 25;
  const capMs = options.backoffCapMs ?? 1_000;
  const tokens = options.authSecret
    ? new TokenSource({ secret: options.authSecret })
    : options.clientKey
      ? new TokenSource({ key: decodeScopedKey(options.clientKey) })
      : undefined;
  const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 512 });
  const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 512 });
  /** The HELLO's token: orders:write when this credential can mint it (it reads too), else whatever it can. */
  const helloAuthorization = (): string => {
    if (!tokens) return '';
    try {
      return tokens.header('orders:write');
    } catch {
      return tokens.header('read');
    }
  };
  const binary =
    (options.protocol ?? 'binary') === 'binary'
      ? new BinaryTransport({
          authorization: helloAuthorization,
          timeoutMs,
          connectionsPerNode: options.binaryConnections,
          maxInflightBytes: options.maxInflightBytes,
        })
      : undefined;

  let leaderHint: string | null = null;
  let rotation = 0;

  const pickTarget = (): string => leaderHint ?? members[rotation++ % members.length]!;
  const backoff = (attempt: number) => sleep(Math.random() * Math.min(capMs, baseMs * 2 ** attempt));

  const call = (base: string, method: string, path: string, body?: unknown): Promise<HttpReply> =>
    new Promise((resolve, reject) => {
      const url = new URL(path, base);
      const isHttps = url.protocol === 'https:';
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = { accept: 'application/json' };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      if (tokens) headers.authorization = tokens.header(requiredScope(method, url.pathname));
      let sent = false;
      const req = (isHttps ? httpsRequest : httpRequest)(
        url,
        { method, headers, agent: isHttps ? httpsAgent : httpAgent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
          res.on('error', (err) => reject(new TransportFailure(err.message, false)));
        },
      );
      req.on('finish', () => (sent = true));
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const refused = err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EHOSTUNREACH';
        reject(new TransportFailure(`${method} ${url.href}: ${err.message}`, refused || !sent));
      });
      req.end(payload);
    });

  /**
   * Each node's binary address (null: it has none, use HTTP) and whether it answers the stamped request kinds
   * (results with executedTs: shared/ledger-contract/wire.ts), asked once over HTTP.
   */
  const endpoints = new Map<string, { addr: string | null; stamps: boolean }>();
  const binaryEndpointOf = async (target: string): Promise<{ addr: string | null; stamps: boolean }> => {
    const cached = endpoints.get(target);
    if (cached !== undefined || !binary) return cached ?? { addr: null, stamps: false };
    const reply = await call(target, 'GET', '/v1/endpoints');
    const body = reply.body as { binary?: unknown; stamps?: unknown } | undefined;
    const addr = reply.status === 200 && typeof body?.binary === 'string' ? body.binary : null;
    const endpoint = { addr, stamps: addr !== null && body?.stamps === true };
    // 404: a node from before the binary protocol. Any other refusal (401 …) is not cached: HTTP will report it.
    if (reply.status === 200 || reply.status === 404) endpoints.set(target, endpoint);
    return endpoint;
  };

  /** The request's stamped form, for the kinds that have one (wire.ts). */
  const stampedForm = (wire: WireCall): WireCall => (hasStampedForm(wire) ? { ...wire, stamped: true } : wire);

  /** `op` over the binary protocol when the node has it, else over HTTP; the same reply shape either way. */
  const exec = async (target: string, op: Op): Promise<HttpReply> => {
    const { addr, stamps } = op.wire && binary ? await binaryEndpointOf(target) : { addr: null, stamps: false };
    if (!addr || !op.wire || !binary) return call(target, op.method, op.path, op.body);
    let reply;
    try {
      // A node that stamps is asked for the stamped kinds; one from before them gets the kinds it knows.
      reply = await binary.request(addr, stamps ? stampedForm(op.wire) : op.wire);
    } catch (err) {
      // Asked again on the next call: a node replaced by another version (rolled back to one without the stamped
      // kinds, or moved) refuses what this one advertised, and the cached answer would repeat the refusal.
      endpoints.delete(target);
      if (err instanceof WireTransportError) throw new TransportFailure(`${addr}: ${err.message}`, err.notSent);
      throw err;
    }
    if (reply.kind !== Kind.REPLY) {
      endpoints.delete(target);
      throw new TransportFailure(`${addr}: ${reply.error}`, false);
    }
    const body =
      reply.status === 200
        ? op.wire.kind === Kind.APPLY_BATCH
          ? { results: reply.body }
          : reply.body
        : reply.status === 307
          ? { leader: reply.leader }
          : { error: reply.error };
    return { status: reply.status, headers: {}, body };
  };

  const errorText = (reply: HttpReply): string => {
    const b = reply.body as { error?: unknown } | undefined;
    return typeof b?.error === 'string' ? b.error : `HTTP ${reply.status}`;
  };

  /**
   * The nodes this client will send its token and orders to: the configured members, plus the members a configured
   * member lists in its /v1/status. A redirect (307 Location or body.leader) elsewhere — a rogue or misconfigured node
   * pointing at a host it controls — is not followed.
   */
  const known = new Set(members.map(originOf));
  let learnedAt = -Infinity;
  const learnMembers = async (): Promise<void> => {
    if (Date.now() - learnedAt < 1_000) return;
    learnedAt = Date.now();
    for (const member of members) {
      try {
        const reply = await call(member, 'GET', '/v1/status');
        if (reply.status !== 200) continue;
        for (const m of (reply.body as NodeStatus).members ?? []) if (m.httpUrl) known.add(originOf(m.httpUrl));
      } catch {
        // An unreachable member teaches nothing; the others may.
      }
    }
  };

  /** The leader a redirect names, if it is a known member; null otherwise. */
  const leaderFrom = async (reply: HttpReply): Promise<string | null> => {
    const b = reply.body as { leader?: unknown } | undefined;
    const loc = reply.headers.location;
    const named = typeof b?.leader === 'string' ? b.leader : loc;
    if (!named) return null;
    const leader = originOf(named);
    if (!known.has(leader)) await learnMembers();
    return known.has(leader) ? leader : null;
  };

  /**
   * A read served by any node (linearizable on the server side via ReadIndex). 404 → undefined.
   */
  const read = async <T>(op: Op): Promise<T | undefined> => {
    const path = op.path;
    let lastError = 'no attempt made';
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const target = pickTarget();
      try {
        const reply = await exec(target, op);
        if (reply.status === 200) return reply.body as T;
        if (reply.status === 404) return undefined;
        if (reply.status === 307) {
          leaderHint = await leaderFrom(reply);
          if (leaderHint) continue;
          lastError = `${target}: redirected to a node that is not a known member`;
        } else if (reply.status === 503) {
          if (target === leaderHint) leaderHint = null;
          lastError = `${target}: ${errorText(reply)}`;
        } else {
          throw new LedgerClientError(`GET ${path}: ${errorText(reply)}`, reply.status);
        }
      } catch (err) {
        if (err instanceof LedgerClientError) throw err;
        if (target === leaderHint) leaderHint = null;
        lastError = (err as Error).message;
      }
      await backoff(attempt);
    }
    throw new LedgerClientError(`GET ${path} failed after ${maxAttempts} attempts: ${lastError}`);
  };

  const write = async <T>(op: Op, readBack?: () => Promise<T | undefined>): Promise<T> => {
    const path = op.path;
    let lastError = 'no attempt made';
    let redirects = 0;
    for (let attempt = 0; attempt < maxAttempts;) {
      const target = pickTarget();
      try {
        const reply = await exec(target, op);
        if (reply.status === 200) {
          leaderHint = target;
          return reply.body as T;
        }
        if (reply.status === 307) {
          leaderHint = await leaderFrom(reply);
          // Following a redirect is not a failed attempt, but a redirect loop must end.
          if (leaderHint && ++redirects <= 2 * members.length + 2) continue;
          lastError = leaderHint ? 'too many redirects' : `${target}: redirected to a node that is not a known member`;
        } else if (reply.status === 503) {
          leaderHint = null;
          lastError = `${target}: ${errorText(reply)}`;
        } else {
          throw new LedgerClientError(`POST ${path}: ${errorText(reply)}`, reply.status);
        }
      } catch (err) {
        if (err instanceof LedgerClientError) throw err;
        leaderHint = null;
        lastError = (err as Error).message;
        const uncertain = err instanceof TransportFailure && !err.notSent;
        if (uncertain && readBack) {
          const found = await readBack().catch(() => undefined);
          if (found !== undefined) return found;
        }
      }
      await backoff(attempt);
      attempt++;
    }
    throw new LedgerClientError(`POST ${path} failed after ${maxAttempts} attempts: ${lastError}`);
  };

  const getOrder = (orderId: string) =>
    read<OrderResult>({
      method: 'GET',
      path: `/v1/orders/${encodeURIComponent(orderId)}`,
      wire: { kind: Kind.GET_ORDER, orderId },
    });

  /**
   * No read-back before a batch is sent again: it would take one read per order, while the resent batch is one
   * request that answers every order already applied with its stored result (duplicate: true) — a batch is one
   * entry, so after an uncertain attempt either all of its orders were applied by it or none was.
   */
  const applyOrders = async (orders: Order[]): Promise<OrderResult[]> => {
    const { results } = await write<OrderBatchResult>({
      method: 'POST',
      path: '/v1/orders/batch',
      body: { orders },
      wire: { kind: Kind.APPLY_BATCH, orders },
    });
    // The caller maps results[i] to orders[i]: an answer that does not line up must not be taken for one.
    const aligned =
      Array.isArray(results) &&
      results.length === orders.length &&
      orders.every((order, i) => results[i]?.orderId === order.orderId);
    if (!aligned) {
      throw new LedgerClientError('POST /v1/orders/batch: the answer is not one result per order in the order sent');
    }
    return results;
  };

  return {
    applyOrder: (order: Order) =>
      write<OrderResult>(
        { method: 'POST', path: '/v1/orders', body: order, wire: { kind: Kind.APPLY_ORDER, order } },
        () => getOrder(order.orderId),
      ),
    applyOrders,
    getOrder,
    // No read-back: a resent cancel is itself idempotent (the ledger answers the same status, duplicate: true).
    cancelOrder: (orderId: string, account: string) =>
      write<CancelResult>({
        method: 'POST',
        path: '/v1/orders/cancel',
        body: { orderId, account },
        wire: { kind: Kind.CANCEL, orderId, account },
      }),
    // Operator commands: rare, over HTTP; a resend applies the same switch or patch again, which is harmless.
    halt: (reason?: string) =>
      write<HaltInfo>({ method: 'POST', path: '/v1/halt', body: reason === undefined ? {} : { reason } }),
    resume: () => write<HaltInfo>({ method: 'POST', path: '/v1/resume' }),
    setLimits: (patch: Partial<RiskLimits>) => write<RiskLimits>({ method: 'POST', path: '/v1/limits', body: patch }),
    limits: async () => {
      const limits = await read<RiskLimits & HaltInfo>({ method: 'GET', path: '/v1/limits' });
      if (!limits) throw new LedgerClientError('GET /v1/limits: not found', 404);
      return limits;
    },
    positions: async (account?: string) =>
      (await read<Position[]>({
        method: 'GET',
        path: account ? `/v1/positions?account=${encodeURIComponent(account)}` : '/v1/positions',
      })) ?? [],
    status: async (nodeUrl: string) => {
      const reply = await call(nodeUrl.replace(/\/+$/, ''), 'GET', '/v1/status');
      if (reply.status !== 200) throw new LedgerClientError(`GET /v1/status: ${errorText(reply)}`, reply.status);
      return reply.body as NodeStatus;
    },
    close: () => {
      binary?.close();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
