import type { Logger } from '@aws-lambda-powertools/logger';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { canRead, canTrade, describePrincipal, isAdmin, type Principal } from '../auth/principal';
import { orderEvent } from '../domain/execution';
import {
  CANCELED_REASON,
  describeZodError,
  OrderIdSchema,
  publicStatus,
  type CancelResult,
  type OrderResult,
} from '../domain/order';
import {
  deriveClientOrderId,
  fingerprint,
  parseOrderRequest,
  priceOrder,
  requestConflicts,
  userOrder,
  type FieldError,
  type OrderRequest,
} from '../domain/user-order';
import type { LedgerClient } from '../raft-client/types';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AccountRateLimiter, ClientOrders, LastPrices, type ClientOrderRecord } from './client-orders';
import { sendCommands } from './command-sender';
import { publishOrderEvents } from './order-events';
import { OrderRecords } from './order-records';

/**
 * Order entry and cancel as use-cases over their adapters, whatever the request came through: POST /orders and
 * DELETE /orders/{orderId} (functions/orders) and `order.submit` / `order.cancel` on the WebSocket
 * (functions/ws-connection) both call these, and each only maps the outcome to its own protocol (an HTTP status, a
 * WebSocket message). So the rules — who may trade, validation, the rate limit, the idempotent entry record, the
 * ledger-decided cancel and its CANCELED event — have one home.
 *
 * place: validate, rate-limit, then record the request under its derived order id (a conditional put: a repeat
 * finds the first and answers the same) and send the order to the commands queue like a strategy order.
 * cancel: the ledger's cancel decides the race with execution; a cancel that wins records and publishes the order's
 * CANCELED event the way execute publishes results (one per order).
 */
export interface OrderEntryDeps {
  commandsQueueUrl: string;
  eventsTopicArn: string;
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

/** What placing an order came to; each entry point maps it to its protocol (docs/api.md, "Order entry"). */
export type PlaceOutcome =
  | { kind: 'entered'; orderId: string; status: 'PENDING' }
  | { kind: 'expired'; orderId: string; status: 'EXPIRED'; reason?: string | undefined }
  | { kind: 'invalid'; message: string; errors: FieldError[] }
  | { kind: 'forbidden'; message: string }
  | { kind: 'rate-limited'; message: string; retryAfterSeconds: number }
  /** The clientOrderId was used for another order (`conflicts` names the fields), or no price is known yet. */
  | { kind: 'conflict'; message: string; orderId?: string; conflicts?: string[] };

/** What a cancel came to. `refused`: the order is past canceling (EXECUTED, REJECTED, or EXPIRED at entry). */
export type CancelOutcome =
  | { kind: 'canceled'; orderId: string; status: 'CANCELED' }
  | { kind: 'refused'; orderId: string; status: string; reason?: string | undefined }
  | { kind: 'invalid'; message: string }
  | { kind: 'not-found'; message: string }
  | { kind: 'forbidden'; message: string };

/**
 * The request's id as a command's correlationId (CorrelationIdSchema: `A-Za-z0-9._:-`, ≤ 128): API Gateway's request
 * ids are often base64 (`Tj-QjjMloAMEbOg=`), whose `=`, `+` and `/` the schema refuses, so they become `_` — still
 * recognisable in the logs, and never a command execute would have to refuse.
 */
export const commandCorrelationId = (requestId: string): string =>
  requestId.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 128) || 'order-entry';

/** An expired record's status and reason (the reason as recorded; JSON leaves it out if there is none). */
const expiry = (record: ClientOrderRecord) => ({ status: 'EXPIRED' as const, reason: record.reason });

const invalid = (errors: FieldError[]): PlaceOutcome => ({ kind: 'invalid', message: 'invalid order', errors });

/** The account an order is for: a trader's own (from the token), or the one an IAM service names in the body. */
function accountFor(principal: Principal, request: OrderRequest): { account: string } | { refusal: PlaceOutcome } {
  if (principal.kind === 'iam') {
    if (request.account !== undefined) return { account: request.account };
    return {
      refusal: invalid([{ field: 'account', message: 'is required for IAM callers: the account the order is for' }]),
    };
  }
  if (request.account !== undefined) {
    return { refusal: invalid([{ field: 'account', message: 'comes from your token; do not send it' }]) };
  }
  if (!canTrade(principal, principal.account)) {
    return { refusal: { kind: 'forbidden', message: 'placing orders needs the trader role' } };
  }
  return { account: principal.account };
}

// Over ~80 lines on purpose: a factory closure over its dependencies (place, its answers, cancel and the CANCELED
// event); each inner function is short and one job, and moving them out would only thread `deps` through each.
export function createOrderEntry(deps: OrderEntryDeps) {
  const { logger } = deps;
  const now = deps.now ?? Date.now;

  /** The answer to a recorded request: EXPIRED as recorded, else (re)send the command — SQS dedups by order id. */
  async function answer(record: ClientOrderRecord): Promise<PlaceOutcome> {
    if (record.status === 'EXPIRED') return { kind: 'expired', orderId: record.orderId, ...expiry(record) };
    await sendCommands(deps.sqs, deps.commandsQueueUrl, [record.command!]);
    return { kind: 'entered', orderId: record.orderId, status: 'PENDING' };
  }

  function answerRepeat(record: ClientOrderRecord, request: OrderRequest): Promise<PlaceOutcome> | PlaceOutcome {
    const conflicts = requestConflicts(record.request, fingerprint(request));
    if (conflicts.length === 0) return answer(record);
    return {
      kind: 'conflict',
      message: `clientOrderId ${record.clientOrderId} was already used for another order: its ${conflicts.join(', ')} differ`,
      orderId: record.orderId,
      conflicts,
    };
  }

  /** Places `body` (a POST /orders body, already JSON) for `principal`; `correlationId` follows the command. */
  async function place(principal: Principal, body: unknown, correlationId: string): Promise<PlaceOutcome> {
    const parsed = parseOrderRequest(body);
    if (!parsed.ok) return invalid(parsed.errors);
    const request = parsed.value;
    const who = accountFor(principal, request);
    if ('refusal' in who) return who.refusal;
    const limit = await deps.limiter.take(who.account);
    if (!limit.ok) {
      const message = `too many orders for account ${who.account}; retry in ${limit.retryAfterSeconds} s`;
      return { kind: 'rate-limited', message, retryAfterSeconds: limit.retryAfterSeconds };
    }
    const orderId = deriveClientOrderId(who.account, request.clientOrderId);
    const existing = await deps.clientOrders.read(orderId);
    if (existing) return answerRepeat(existing, request);
    const last = await deps.prices.lastPrice(request.symbol);
    const pricing = priceOrder(request, last);
    // No price yet: nothing is recorded, so a later retry of the same request may go through.
    if (!pricing.ok && last === undefined) return { kind: 'conflict', message: pricing.reason };
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
              correlationId: commandCorrelationId(correlationId),
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
    const event = orderEvent(command, applied ?? canceled, applied?.executedTs ?? now());
    const standing = (await deps.records.record([event], now())).get(order.orderId)?.event ?? event;
    const { failed } = await publishOrderEvents(deps.sns, deps.eventsTopicArn, [standing]);
    // Thrown, so the caller is told to retry: the ledger answers CANCELED again and the stored event goes out.
    if (failed.length > 0) throw new Error(`CANCELED event of ${order.orderId} not published: ${failed[0]!.reason}`);
  }

  /** Cancels the order `rawOrderId` names (unvalidated: a path segment or a message field) for `principal`. */
  async function cancel(principal: Principal, rawOrderId: unknown): Promise<CancelOutcome> {
    const orderId = OrderIdSchema.safeParse(rawOrderId);
    if (!orderId.success) return { kind: 'invalid', message: `orderId: ${describeZodError(orderId.error)}` };
    const record = await deps.clientOrders.read(orderId.data);
    const allowed = record !== undefined && (canTrade(principal, record.account) || isAdmin(principal));
    // Another account's order is not found: its existence is not the caller's business.
    if (!record || (!allowed && !canRead(principal, record.account))) {
      return { kind: 'not-found', message: `no order ${orderId.data}` };
    }
    if (!allowed) return { kind: 'forbidden', message: 'canceling orders needs the trader role' };
    if (record.status === 'EXPIRED') {
      return { kind: 'refused', orderId: record.orderId, ...expiry(record) };
    }
    const ledger = await deps.ledger();
    const result = await ledger.cancelOrder(record.orderId, record.account);
    logger.info('cancel decided', { orderId: record.orderId, by: describePrincipal(principal), status: result.status });
    if (result.status !== 'CANCELED') {
      return { kind: 'refused', orderId: record.orderId, status: publicStatus(result.status) };
    }
    await publishCanceled(record, ledger, result);
    return { kind: 'canceled', orderId: record.orderId, status: 'CANCELED' };
  }

  return { place, cancel };
}
export type OrderEntry = ReturnType<typeof createOrderEntry>;

/** What order entry is configured with (functions/orders/config.ts `orderEntryEnv`, plus the orders table). */
export interface OrderEntryConfig {
  ORDERS_TABLE_NAME: string;
  STRATEGY_TABLE_NAME: string;
  COMMANDS_QUEUE_URL: string;
  EVENTS_TOPIC_ARN: string;
  ORDER_RATE_LIMIT_PER_SECOND: number;
  ORDER_HISTORY_RETENTION_DAYS: number;
}

/**
 * Order entry over its real adapters: one wiring for both entry points (functions/orders, functions/ws-connection)
 * and their tests. `ledger` must mint orders:write tokens (the cancel needs it).
 */
export function wireOrderEntry(
  config: OrderEntryConfig,
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient; sns: SNSClient },
  ledger: () => Promise<LedgerClient>,
  logger: Logger,
): OrderEntry {
  const { documents, sqs, sns } = clients;
  return createOrderEntry({
    commandsQueueUrl: config.COMMANDS_QUEUE_URL,
    eventsTopicArn: config.EVENTS_TOPIC_ARN,
    ledger,
    clientOrders: new ClientOrders(documents, config.ORDERS_TABLE_NAME),
    records: new OrderRecords(documents, config.ORDERS_TABLE_NAME, {
      retentionDays: config.ORDER_HISTORY_RETENTION_DAYS,
    }),
    limiter: new AccountRateLimiter(documents, config.ORDERS_TABLE_NAME, config.ORDER_RATE_LIMIT_PER_SECOND),
    prices: new LastPrices(documents, config.STRATEGY_TABLE_NAME),
    sqs,
    sns,
    logger,
  });
}
