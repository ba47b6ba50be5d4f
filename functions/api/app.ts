import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type * as z from 'zod';
import { canRead, isAdmin, principalFromEvent, PrincipalError, type Principal } from '../../shared/auth/principal';
import type { ClientOrders } from '../../shared/aws/client-orders';
import type { OrderRecords } from '../../shared/aws/order-records';
import { AccountSchema, describeZodError, OrderIdSchema, publicStatus } from '../../shared/domain/order';
import {
  CursorError,
  historyRange,
  HistoryQuerySchema,
  historyView,
  type HistoryQuery,
} from '../../shared/domain/order-history';
import { LedgerClientError } from '../../shared/raft-client/client';
import type { LedgerClient } from '../../shared/raft-client/types';
import { HttpEventSchema, type HttpEvent } from '../../shared/aws/http-event';
import { json } from '../../shared/aws/http-response';
import type { GetOrderResponse, HealthResponse, ListOrdersResponse, PositionsResponse } from '../../shared/api/schemas';

export interface ApiDeps {
  members: string[];
  ledger: () => Promise<LedgerClient>;
  /** The execution records: one order's (`read`), and the order history (`list`, GET /orders). */
  records: Pick<OrderRecords, 'read' | 'list'>;
  /** Whether OrdersTable has its BySymbol index (not between the two deploys of an upgrade, docs/deploy.md). */
  bySymbolIndex?: boolean;
  /** Order entry's records (POST /orders, order.submit): what answers for an order not yet decided. */
  entries: Pick<ClientOrders, 'read'>;
  logger: Logger;
}

/**
 * 400 naming every field that is wrong: `message` (all of them, readable) and `errors` (one per field). `field`
 * names the value when the schema checked that value alone (a path parameter).
 */
function fieldErrors(error: z.ZodError, field?: string): APIGatewayProxyStructuredResultV2 {
  const byField = new Map<string, string[]>();
  for (const issue of error.issues) {
    const found =
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => [key, 'is not a parameter of this route'] as const)
        : [[[...(field ? [field] : []), ...issue.path].join('.') || '(query)', issue.message] as const];
    for (const [name, message] of found) byField.set(name, [...(byField.get(name) ?? []), message]);
  }
  // One entry per field, its problems joined: a value can break several rules at once.
  const errors = [...byField].map(([name, messages]) => ({ field: name, message: messages.join('; ') }));
  return json(400, { message: errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors });
}

const forbiddenAccount = (principal: Principal) =>
  json(403, {
    message: `account: you may read only your own account${principal.kind === 'user' ? ` (${principal.account})` : ''}`,
  });

/**
 * The account a read is for: the one asked for if the caller may read it, else the caller's own; `undefined`
 * for an admin who named none (all accounts, where the route allows it). A refusal is the response to send.
 */
function readableAccount(
  principal: Principal,
  raw: string | undefined,
): { account: string | undefined } | { refusal: APIGatewayProxyStructuredResultV2 } {
  if (raw !== undefined) {
    const parsed = AccountSchema.safeParse(raw);
    if (!parsed.success) return { refusal: fieldErrors(parsed.error, 'account') };
    return canRead(principal, parsed.data) ? { account: parsed.data } : { refusal: forbiddenAccount(principal) };
  }
  if (isAdmin(principal) || principal.kind !== 'user') return { account: undefined };
  return { account: principal.account };
}

/**
 * GET /orders/{orderId}: the order's status in the API's words, the ledger's record of the order (a linearizable
 * read through the leader), the execution record execute wrote for it (with the event it published) and the entry
 * record of a client's order (so an order just entered answers PENDING, not 404) — only of an account the caller may read;
 * another account's order answers 404 like an unknown one, so ids cannot be probed for existence.
 * GET /orders?account=&symbol=&from=&to=&cursor=&limit=: the order history, newest first, a page at a time.
 * GET /positions[?account=]: positions from the ledger. GET /health: each ledger member's view of the cluster.
 * Every route but /health reads the caller from the authorizer (shared/auth/principal.ts): a user reads its own
 * account; an admin or an IAM caller any.
 */
// Over ~80 lines on purpose: a factory closure over its dependencies, one short function per route.
export function createApiHandler(deps: ApiDeps) {
  const { logger } = deps;

  async function getOrder(principal: Principal, rawId: string): Promise<APIGatewayProxyStructuredResultV2> {
    const orderId = OrderIdSchema.safeParse(rawId);
    if (!orderId.success) return fieldErrors(orderId.error, 'orderId');
    const [order, execution, entry] = await Promise.all([
      (await deps.ledger()).getOrder(orderId.data),
      deps.records.read(orderId.data),
      deps.entries.read(orderId.data),
    ]);
    const account = order?.account ?? execution?.event.account ?? entry?.account;
    // No known account (an execution record from before events carried one): only an admin may see it.
    const readable = account === undefined ? isAdmin(principal) : canRead(principal, account);
    if ((!order && !execution && !entry) || !readable) return json(404, { message: `no order ${orderId.data}` });
    // One status in the API's words: the ledger's decision, else execute's record of it (a cancel that won before
    // the order reached the ledger is recorded there), else the entry's (PENDING until decided, or EXPIRED).
    const decided = order?.status ?? execution?.status;
    const status = decided ? publicStatus(decided) : entry!.status;
    const entered = entry
      ? { clientOrderId: entry.clientOrderId, request: entry.request, createdAt: entry.createdAt }
      : null;
    return json(200, {
      orderId: orderId.data,
      status,
      order: order ?? null,
      execution: execution ?? null,
      entry: entered,
    } satisfies GetOrderResponse);
  }

  async function getPositions(
    principal: Principal,
    raw: string | undefined,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const decided = readableAccount(principal, raw);
    if ('refusal' in decided) return decided.refusal;
    const positions = await (await deps.ledger()).positions(decided.account);
    return json(200, { positions } satisfies PositionsResponse);
  }

  async function listOrders(
    principal: Principal,
    query: Record<string, string | undefined>,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    const parsed = HistoryQuerySchema.safeParse(query);
    if (!parsed.success) return fieldErrors(parsed.error);
    const q: HistoryQuery = parsed.data;
    // A user (admins too) reads its own account unless it names another; an IAM caller has none to default to.
    const decided = readableAccount(
      principal,
      q.account ?? (principal.kind === 'user' ? principal.account : undefined),
    );
    if ('refusal' in decided) return decided.refusal;
    if (decided.account === undefined) {
      const message = 'required for an IAM caller (the history is kept per account)';
      return json(400, { message: `account: ${message}`, errors: [{ field: 'account', message }] });
    }
    if (q.symbol !== undefined && deps.bySymbolIndex === false) {
      const message = 'the BySymbol index is being added (an upgrade in two deploys); retry after the second';
      return json(503, { message: `symbol: ${message}`, errors: [{ field: 'symbol', message }] });
    }
    let range;
    try {
      range = historyRange(decided.account, q);
    } catch (error) {
      if (!(error instanceof CursorError)) throw error;
      return json(400, { message: `cursor: ${error.message}`, errors: [{ field: 'cursor', message: error.message }] });
    }
    const page = await deps.records.list(range);
    return json(200, {
      orders: page.events.map(historyView),
      nextCursor: page.nextCursor ?? null,
    } satisfies ListOrdersResponse);
  }

  /** The user routes: the principal first (403 without one), then the route. */
  async function userRoute(event: unknown, method: string, path: string, data: HttpEvent) {
    let principal: Principal;
    try {
      principal = principalFromEvent(event);
    } catch (error) {
      if (error instanceof PrincipalError) return json(403, { message: error.message });
      throw error;
    }
    const query = data.queryStringParameters ?? {};
    const order = /\/orders\/([^/]+)$/.exec(path);
    if (order) return getOrder(principal, data.pathParameters?.orderId ?? decodeURIComponent(order[1] as string));
    if (path.endsWith('/orders')) return listOrders(principal, query);
    if (path.endsWith('/positions')) return getPositions(principal, query.account);
    return json(404, { message: `no route for ${method} ${path}` });
  }

  async function getHealth(): Promise<APIGatewayProxyStructuredResultV2> {
    const ledger = await deps.ledger();
    const members = await Promise.all(
      deps.members.map(async (url) => {
        try {
          const s = await ledger.status(url);
          return {
            url,
            nodeId: s.nodeId,
            role: s.role,
            term: s.term,
            leaderId: s.leaderId,
            commitIndex: s.commitIndex,
          };
        } catch (error) {
          return { url, error: (error as Error).message };
        }
      }),
    );
    const leaders = new Set(members.flatMap((m) => ('leaderId' in m && m.leaderId ? [m.leaderId] : [])));
    const reachable = members.filter((m) => 'role' in m).length;
    const healthy = leaders.size === 1 && reachable > deps.members.length / 2;
    const body: HealthResponse = { status: healthy ? 'ok' : 'degraded', leader: [...leaders][0] ?? null, members };
    return json(healthy ? 200 : 503, body);
  }

  return middy(async (event: unknown, _context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const parsed = HttpEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`api expects an HTTP API v2 event: ${describeZodError(parsed.error)}`);
    const { method, path } = parsed.data.requestContext.http;
    try {
      if (method === 'GET') {
        if (path.endsWith('/health')) return await getHealth();
        return await userRoute(event, method, path, parsed.data);
      }
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      // The ledger refused or could not be reached: say so, as a gateway error, without internals.
      logger.error('request failed', { method, path, error: error as Error });
      if (error instanceof LedgerClientError)
        return json(error.status === undefined ? 503 : 502, { message: error.message });
      return json(500, { message: 'internal error' });
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
