import * as z from 'zod';
import { CandlesSchema, TicksSchema } from '../domain/market-query';
import { OrderIdSchema } from '../domain/order';
import { HistoryQuerySchema } from '../domain/order-history';
import { MAX_TICKS_PER_REQUEST, TickSchema } from '../domain/tick';
import { OrderRequestSchema } from '../domain/user-order';
import {
  CancelRefusedSchema,
  CandlesResponseSchema,
  ClientOrderConflictSchema,
  ClusterResponseSchema,
  ErrorSchema,
  GetOrderResponseSchema,
  HaltBodySchema,
  HaltStateSchema,
  HealthResponseSchema,
  IngestAcceptedSchema,
  IngestPartialSchema,
  IngestRefusedSchema,
  LimitsBodySchema,
  ListOrdersResponseSchema,
  OrderCanceledSchema,
  OrderExpiredSchema,
  OrderPendingSchema,
  PositionsResponseSchema,
  RateLimitedSchema,
  ResumeBodySchema,
  RiskLimitsResponseSchema,
  TicksResponseSchema,
  ValidationErrorSchema,
} from './schemas';

/**
 * What each route of the HTTP API takes and answers, by route key (`METHOD /path`, as the template's
 * AWS::ApiGatewayV2::Route has it). Who may call a route is decided twice: API Gateway's authorizer (from the
 * template: JWT or AWS_IAM — tools/openapi.ts reads it there, not from here) and the function's own role and account
 * checks (`access` below, in words). The responses are the function's; API Gateway's own (401, 403, 413, 429, 500,
 * 503) are added by the generator from the route's authorization (shared/api/openapi.ts).
 */
export interface ResponseContract {
  description: string;
  schema: z.ZodType;
  /** Response headers the function sets, with what they mean. */
  headers?: Record<string, string>;
}

export interface RouteContract {
  summary: string;
  /** Who may call it beyond what the authorizer checks (roles, accounts), and what it does. */
  access: string;
  description: string;
  /** The function behind the route (functions/<name>). */
  handler: 'ingest' | 'api' | 'orders' | 'admin' | 'market-data-api';
  body?: z.ZodType;
  /** The query string's schema: an object of string fields (what the handler validates with). */
  query?: z.ZodObject;
  /** Descriptions of query parameters, where the schema alone does not say enough. */
  queryDescriptions?: Record<string, string>;
  path?: Record<string, z.ZodType>;
  responses: Record<number, ResponseContract>;
}

const res = (description: string, schema: z.ZodType = ErrorSchema): ResponseContract => ({ description, schema });
const badInput = (description: string) => res(description, ValidationErrorSchema);
const noPrincipal =
  'no caller in the request (`the request carries no authorizer result`), or a token without an account';
const ledgerDown = {
  502: res('the ledger refused the request'),
  503: res('the ledger could not be reached; retry'),
};
const orderIdPath = { orderId: OrderIdSchema };
const timeForms = 'epoch milliseconds or ISO 8601 (`2026-01-01T00:00:00Z`)';
const marketQuery = {
  symbol: 'the symbol, normalised as on ingest (`aapl` → `AAPL`)',
  from: `${timeForms}, inclusive`,
  to: `${timeForms}, exclusive; after from`,
  limit: `items read per page, 1–1000 (default 100)`,
  cursor: '`nextCursor` of the previous page, for the same symbol, (interval,) from and to (opaque)',
};

/** POST /ticks' body as parseTickBatch (shared/domain/tick.ts) judges it: one tick, or 1–500 of them. */
const TickBatchSchema = z.union([TickSchema, z.array(TickSchema).min(1).max(MAX_TICKS_PER_REQUEST)]);

const adminAccess =
  'IAM-authorized; the function also checks the admin role (an IAM caller is an operator, a user token must carry the `admin` group). Every change writes one audit log line naming who and why. The same operation for admin users: /operator/*.';
const operatorAccess =
  "The user pool's ID token of a user in the `admin` group (the web console); the function checks the role (403 otherwise). Every change writes one audit log line naming who and why. The same operation for IAM callers: /admin/*.";
const adminRefused = { 403: res('not an admin (`operator routes need the admin role; <who> has not`)'), ...ledgerDown };

export const HTTP_ROUTES: Record<string, RouteContract> = {
  'POST /ticks': {
    summary: 'Ingest market ticks',
    access: 'IAM-authorized (services: the feed, load tools).',
    description:
      'Writes each valid tick to the ticks stream (partition key: symbol). Each tick is judged on its own: invalid ones are listed in `rejected` and cost only themselves. Send your own `tickId` and keep it on retries: it is the tick’s identity downstream; without one ingest assigns a fresh id, so a retry is a new tick.',
    handler: 'ingest',
    body: TickBatchSchema,
    responses: {
      202: res(
        'the valid ticks are in the stream (`accepted`), invalid ones listed (`rejected`)',
        IngestAcceptedSchema,
      ),
      400: res('no body, not JSON, an empty or over-long array, or no valid tick', IngestRefusedSchema),
      503: res('some valid ticks did not land in the stream: retry exactly those in `failed`', IngestPartialSchema),
    },
  },
  'GET /health': {
    summary: 'Ledger cluster health',
    access: 'IAM-authorized.',
    description:
      "Each ledger member's view (role, term, leader, commit index). 200 when one leader is agreed by a majority.",
    handler: 'api',
    responses: {
      200: res('one leader, a majority reachable', HealthResponseSchema),
      503: res(
        'degraded: no agreed leader or no reachable majority (same body, `status: "degraded"`)',
        HealthResponseSchema,
      ),
      500: res('internal error'),
    },
  },
  'GET /orders': {
    summary: 'Order history of one account',
    access:
      'Any role; a user reads its own account unless it is an admin; IAM callers any account (and must name one).',
    description:
      'Newest first, a page at a time, from the execution records (one per order, written when the ledger decides it).',
    handler: 'api',
    query: HistoryQuerySchema,
    queryDescriptions: {
      account:
        "whose orders; default the caller's own. Another account: admins and IAM callers only. Required for IAM callers.",
      symbol: 'only this symbol (normalised)',
      from: `orders created at or after this time: ${timeForms}`,
      to: 'orders created at or before this time (same forms); from must not be after to',
      limit: 'page size, 1–100, default 50',
      cursor: '`nextCursor` of the previous page, with the same account, symbol, from and to',
    },
    responses: {
      200: res('one page; `nextCursor` is null on the last', ListOrdersResponseSchema),
      400: badInput(
        'a bad or unknown parameter, a cursor not handed out for this query, or no account for an IAM caller',
      ),
      403: res(`another account asked for by a non-admin, or ${noPrincipal}`),
      500: res('internal error'),
      503: res(
        '`symbol` given between the two deploys of an upgrade that adds the BySymbol index (docs/deploy.md); retry after it',
        ValidationErrorSchema,
      ),
    },
  },
  'GET /orders/{orderId}': {
    summary: 'One order: the ledger’s record and the execution record',
    access: "Any role; the order must be of the caller's account unless the caller is an admin or IAM.",
    description: 'The ledger record is read linearizably through the Raft leader.',
    handler: 'api',
    path: orderIdPath,
    responses: {
      200: res('the order', GetOrderResponseSchema),
      400: badInput('the orderId is not a valid order id'),
      403: res(noPrincipal),
      404: res('no such order, or an order of another account (the same answer: ids cannot be probed)'),
      ...ledgerDown,
      500: res('internal error'),
    },
  },
  'GET /positions': {
    summary: 'Positions from the ledger',
    access: 'Any role; a user only its own account; an admin or IAM caller any, or all when none is named.',
    description: 'Positions as the ledger holds them.',
    handler: 'api',
    query: z.object({ account: z.string().optional() }),
    queryDescriptions: { account: "whose positions; default the caller's own (a user), every account (admin, IAM)" },
    responses: {
      200: res('the positions', PositionsResponseSchema),
      400: badInput('the account is not a valid account'),
      403: res(`another account asked for by a non-admin, or ${noPrincipal}`),
      ...ledgerDown,
      500: res('internal error'),
    },
  },
  'POST /orders': {
    summary: 'Place an order (idempotent by clientOrderId)',
    access:
      "A user with the trader role, on its token's account (the body must not name one); or an IAM caller, which must name `account`.",
    description:
      'Market, or IOC limit, filled at the symbol’s last traded price. The order id is derived from (account, clientOrderId): the same request answers the same, one order. Rate-limited per account.',
    handler: 'orders',
    body: OrderRequestSchema,
    responses: {
      202: res('entered: sent to the commands queue; the outcome arrives as the order’s event', OrderPendingSchema),
      200: res('an IOC limit order that cannot execute at the last price; nothing is queued', OrderExpiredSchema),
      400: badInput('`invalid order`: every bad field named; body not JSON; `account` from a user or missing for IAM'),
      403: res(`not a trader (\`placing orders needs the trader role\`), or ${noPrincipal}`),
      409: {
        description:
          'the clientOrderId was used for another order (`conflicts` names the fields), or no price is known for the symbol yet (`{message}`; nothing recorded, retry later)',
        schema: z.union([ClientOrderConflictSchema, ErrorSchema]),
      },
      429: {
        description: "the account's per-second order limit",
        schema: RateLimitedSchema,
        headers: { 'retry-after': 'seconds to wait' },
      },
      503: res('a dependency failed; retry the same request (it is idempotent)'),
    },
  },
  'DELETE /orders/{orderId}': {
    summary: 'Cancel an order not yet executed',
    access:
      "The owner (a trader on the order's account), an admin, or an IAM caller. Another account's order is 404; a viewer of the account 403.",
    description:
      'The race with execution is decided by the ledger’s log: exactly one of EXECUTED or CANCELED. Idempotent: a retry answers the same.',
    handler: 'orders',
    path: orderIdPath,
    responses: {
      200: res(
        'canceled (now, or the tombstone waits for the order); its CANCELED event is published once',
        OrderCanceledSchema,
      ),
      400: res('the orderId is not a valid order id'),
      403: res(`a viewer of the account (\`canceling orders needs the trader role\`), or ${noPrincipal}`),
      404: res('no such order entered through POST /orders, or another account’s'),
      409: res('the order reached the ledger first (EXECUTED or REJECTED), or expired at entry', CancelRefusedSchema),
      502: res('the ledger refused'),
      503: res('the ledger or the events topic could not be reached; retry (the cancel is idempotent)'),
    },
  },
  'POST /admin/halt': {
    summary: 'Halt trading',
    access: adminAccess,
    description:
      'Through the ledger’s log: every order applied after it is REJECTED with `trading is halted: <reason>`.',
    handler: 'admin',
    body: HaltBodySchema,
    responses: {
      200: res('halted', HaltStateSchema),
      400: badInput('`invalid body`: reason missing, empty or over 500 characters; body not JSON'),
      ...adminRefused,
      500: res('internal error'),
    },
  },
  'POST /admin/resume': {
    summary: 'Resume trading',
    access: adminAccess,
    description: 'Lifts the halt through the ledger’s log.',
    handler: 'admin',
    body: ResumeBodySchema,
    responses: {
      200: res('resumed', HaltStateSchema),
      400: badInput('`invalid body`'),
      ...adminRefused,
      500: res('internal error'),
    },
  },
  'PUT /admin/limits': {
    summary: 'Change the risk limits',
    access: adminAccess,
    description: 'A patch of the ledger’s risk limits (at least one), applied through the ledger’s log.',
    handler: 'admin',
    body: LimitsBodySchema,
    responses: {
      200: res('the limits now in force', RiskLimitsResponseSchema),
      400: badInput('`invalid body`: a bad field, or no limit given'),
      ...adminRefused,
      500: res('internal error'),
    },
  },
  'GET /admin/cluster': {
    summary: 'The ledger cluster: leader, term, commit index, members and their lag',
    access: adminAccess,
    description: "Each member's own status; `lag` is the leader's commit index minus the member's applied index.",
    handler: 'admin',
    responses: {
      200: res('a leader is known', ClusterResponseSchema),
      403: adminRefused[403],
      502: ledgerDown[502],
      503: res(
        'no member is leader (same body), or the ledger could not be reached (`{message}`)',
        z.union([ClusterResponseSchema, ErrorSchema]),
      ),
      500: res('internal error'),
    },
  },
  'GET /ticks': {
    summary: 'Stored ticks of one symbol in a time range',
    access: 'Any signed-in role (admin, trader, viewer), any symbol; IAM callers too. A user in no group: 403.',
    description: 'Oldest first, a page at a time; at most 24 hours per request. Follow `nextCursor` until null.',
    handler: 'market-data-api',
    query: TicksSchema,
    queryDescriptions: { ...marketQuery, limit: 'ticks per page, 1–1000 (default 100)' },
    responses: {
      200: res('one page', TicksResponseSchema),
      400: badInput('`invalid query`: each field at fault named'),
      403: res(`a user with no role, or ${noPrincipal}`),
      500: res('internal error'),
    },
  },
  'GET /candles': {
    summary: 'OHLCV candles of one symbol and interval',
    access: 'As GET /ticks.',
    description:
      'Candles whose bucket starts in [from, to), oldest first, a page at a time. Widest range: 7 days of 1m, 31 of 5m, 366 of 1h.',
    handler: 'market-data-api',
    query: CandlesSchema,
    queryDescriptions: { ...marketQuery, interval: '`1m`, `5m` or `1h`' },
    responses: {
      200: res('one page', CandlesResponseSchema),
      400: badInput('`invalid query`: each field at fault named'),
      403: res(`a user with no role, or ${noPrincipal}`),
      500: res('internal error'),
    },
  },
};

/*
 * Each operator operation is served on two paths, because an HTTP API route takes one authorizer
 * (infra/constructs/admin.ts): /admin/* for IAM callers and /operator/* for admin users. One contract, two access texts.
 */
for (const [key, contract] of Object.entries(HTTP_ROUTES)) {
  if (!key.includes(' /admin/')) continue;
  HTTP_ROUTES[key.replace(' /admin/', ' /operator/')] = { ...contract, access: operatorAccess };
}
