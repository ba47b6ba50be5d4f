import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 as Response, Context } from 'aws-lambda';
import {
  canRead,
  canTrade,
  describePrincipal,
  isAdmin,
  principalFromEvent,
  type Principal,
} from '../../shared/auth/principal';
import type { AccountRateLimiter, ClientOrderRecord, ClientOrders, LastPrices } from '../../shared/aws/client-orders';
import { sendCommands } from '../../shared/aws/command-sender';
import { HttpEventSchema, type HttpEvent } from '../../shared/aws/http-event';
import { failureResponse, json, jsonBody } from '../../shared/aws/http-response';
import { publishOrderEvents } from '../../shared/aws/order-events';
import type { OrderRecords } from '../../shared/aws/order-records';
import { orderEvent } from '../../shared/domain/execution';
import {
  CANCELED_REASON,
  describeZodError,
  OrderIdSchema,
  publicStatus,
  type CancelResult,
  type OrderResult,
} from '../../shared/domain/order';
import {
  deriveClientOrderId,
  fingerprint,
  parseOrderRequest,
  priceOrder,
  requestConflicts,
  userOrder,
  type OrderRequest,
} from '../../shared/domain/user-order';
import type { LedgerClient } from '../../shared/raft-client/types';
import type { OrdersConfig } from './config';

export interface OrdersDeps {
  config: Pick<OrdersConfig, 'COMMANDS_QUEUE_URL' | 'EVENTS_TOPIC_ARN'>;
  ledger: () => Promise<LedgerClient>;
  clientOrders: Pick<ClientOrders, 'read' | 'create'>;
  records: Pick<OrderRecords, 'record'>;
  limiter: Pick<AccountRateLimiter, 'take'>;
  prices: Pick<LastPrices, 'lastPrice'>;
  sqs: SQSClient;
  sns: SNSClient;
  logger: Logger;
  now?: () => number;
}

/** The account an order is for: a trader's own (from the token), or the one an IAM service names in the body. */
function accountFor(principal: Principal, request: OrderRequest): { account: string } | { refusal: Response } {
  if (principal.kind === 'iam') {
    if (request.account !== undefined) return { account: request.account };
    const errors = [{ field: 'account', message: 'is required for IAM callers: the account the order is for' }];
    return { refusal: json(400, { message: 'invalid order', errors }) };
  }
  if (request.account !== undefined) {
    const errors = [{ field: 'account', message: 'comes from your token; do not send it' }];
    return { refusal: json(400, { message: 'invalid order', errors }) };
  }
  if (!canTrade(principal, principal.account)) {
    return { refusal: json(403, { message: 'placing orders needs the trader role' }) };
  }
  return { account: principal.account };
}

/**
 * POST /orders and DELETE /orders/{orderId} (docs/api.md). POST: validate, rate-limit, then record the request under
 * its derived order id (a conditional put: a repeat finds the first and answers the same) and send the order to the
 * commands queue like a strategy order. DELETE: the ledger's cancel decides the race with execution; a cancel that
 * wins records and publishes the order's CANCELED event the way execute publishes results (one per order).
 */
// Over ~80 lines on purpose: a factory closure over its dependencies (place, its answers, cancel and the CANCELED
// event); each inner function is short and one job, and moving them out would only thread `deps` through each.
export function createOrdersHandler(deps: OrdersDeps) {
  const { config, logger } = deps;
  const now = deps.now ?? Date.now;

  /** The answer to a recorded request: EXPIRED as recorded, else (re)send the command — SQS dedups by order id. */
  async function answer(record: ClientOrderRecord): Promise<Response> {
    if (record.status === 'EXPIRED')
      return json(200, { orderId: record.orderId, status: 'EXPIRED', reason: record.reason });
    await sendCommands(deps.sqs, config.COMMANDS_QUEUE_URL, [record.command!]);
    return json(202, { orderId: record.orderId, status: 'PENDING' });
  }

  function answerRepeat(record: ClientOrderRecord, request: OrderRequest): Promise<Response> | Response {
    const conflicts = requestConflicts(record.request, fingerprint(request));
    if (conflicts.length === 0) return answer(record);
    return json(409, {
      message: `clientOrderId ${record.clientOrderId} was already used for another order: its ${conflicts.join(', ')} differ`,
      orderId: record.orderId,
      conflicts,
    });
  }

  async function place(event: HttpEvent, principal: Principal): Promise<Response> {
    const body = jsonBody(event);
    if (!body.ok) return json(400, { message: 'invalid order', errors: [{ field: '(body)', message: 'is not JSON' }] });
    const parsed = parseOrderRequest(body.value);
    if (!parsed.ok) return json(400, { message: 'invalid order', errors: parsed.errors });
    const request = parsed.value;
    const who = accountFor(principal, request);
    if ('refusal' in who) return who.refusal;
    const limit = await deps.limiter.take(who.account);
    if (!limit.ok) {
      const message = `too many orders for account ${who.account}; retry in ${limit.retryAfterSeconds} s`;
      const retryAfter = { 'retry-after': String(limit.retryAfterSeconds) };
      return json(429, { message, retryAfterSeconds: limit.retryAfterSeconds }, retryAfter);
    }
    const orderId = deriveClientOrderId(who.account, request.clientOrderId);
    const existing = await deps.clientOrders.read(orderId);
    if (existing) return answerRepeat(existing, request);
    const last = await deps.prices.lastPrice(request.symbol);
    const pricing = priceOrder(request, last);
    // No price yet: nothing is recorded, so a later retry of the same request may go through.
    if (!pricing.ok && last === undefined) return json(409, { message: pricing.reason });
    const at = now();
    const { created, record } = await deps.clientOrders.create({
      orderId,
      account: who.account,
      clientOrderId: request.clientOrderId,
      request: fingerprint(request),
      createdAt: at,
      ...(pricing.ok
        ? {
            status: 'PENDING' as const,
            command: {
              order: userOrder(orderId, who.account, request, pricing.price),
              tickTs: at,
              commandTs: at,
              correlationId: event.requestContext.requestId,
            },
          }
        : { status: 'EXPIRED' as const, reason: pricing.reason }),
    });
    if (!created) return answerRepeat(record, request);
    logger.info('order entered', { orderId, by: describePrincipal(principal), status: record.status });
    return answer(record);
  }

  /** Records and publishes the CANCELED event: the same record-first-then-publish path as execute's results. */
  async function publishCanceled(record: ClientOrderRecord, ledger: LedgerClient, result: CancelResult): Promise<void> {
    const command = record.command!;
    const order = command.order;
    const applied = result.pending ? undefined : await ledger.getOrder(order.orderId);
    const position =
      applied?.position ??
      (await ledger.positions(order.account)).find((p) => p.symbol === order.symbol)?.quantity ??
      0;
    const canceled: OrderResult = { ...order, status: 'CANCELED', reason: CANCELED_REASON, duplicate: false, position };
    const event = orderEvent(command, applied ?? canceled, now());
    const standing = (await deps.records.record([event], now())).get(order.orderId) ?? event;
    const { failed } = await publishOrderEvents(deps.sns, config.EVENTS_TOPIC_ARN, [standing]);
    // Thrown, so the caller gets a 503 and retries: the ledger answers CANCELED again and the stored event goes out.
    if (failed.length > 0) throw new Error(`CANCELED event of ${order.orderId} not published: ${failed[0]!.reason}`);
  }

  async function cancel(event: HttpEvent, principal: Principal): Promise<Response> {
    const orderId = OrderIdSchema.safeParse(event.pathParameters?.orderId ?? '');
    if (!orderId.success) return json(400, { message: `orderId: ${describeZodError(orderId.error)}` });
    const record = await deps.clientOrders.read(orderId.data);
    const allowed = record !== undefined && (canTrade(principal, record.account) || isAdmin(principal));
    // Another account's order is not found: its existence is not the caller's business.
    if (!record || (!allowed && !canRead(principal, record.account))) {
      return json(404, { message: `no order ${orderId.data}` });
    }
    if (!allowed) return json(403, { message: 'canceling orders needs the trader role' });
    if (record.status === 'EXPIRED') {
      return json(409, { orderId: record.orderId, status: 'EXPIRED', reason: record.reason });
    }
    const ledger = await deps.ledger();
    const result = await ledger.cancelOrder(record.orderId, record.account);
    logger.info('cancel decided', { orderId: record.orderId, by: describePrincipal(principal), status: result.status });
    if (result.status !== 'CANCELED') {
      return json(409, { orderId: record.orderId, status: publicStatus(result.status) });
    }
    await publishCanceled(record, ledger, result);
    return json(200, { orderId: record.orderId, status: 'CANCELED' });
  }

  return middy(async (raw: unknown, _context: Context): Promise<Response> => {
    const parsed = HttpEventSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`orders expects an HTTP API v2 event: ${describeZodError(parsed.error)}`);
    const event = parsed.data;
    const { method, path } = event.requestContext.http;
    try {
      const principal = principalFromEvent(raw);
      if (method === 'POST' && /\/orders$/.test(path)) return await place(event, principal);
      if (method === 'DELETE' && /\/orders\/[^/]+$/.test(path)) return await cancel(event, principal);
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      return failureResponse(
        error,
        logger,
        { method, path },
        { statusCode: 503, message: 'the request could not be completed; retry it (it is idempotent)' },
      );
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
