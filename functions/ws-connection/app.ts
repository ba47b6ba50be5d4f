import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import * as z from 'zod';
import { canRead, principalFromEvent, PrincipalError, type Principal } from '../../shared/auth/principal';
import type { ConnectionPoster } from '../../shared/aws/connection-poster';
import type { CancelOutcome, OrderEntry, PlaceOutcome } from '../../shared/aws/order-entry';
import type { OrderRecords } from '../../shared/aws/order-records';
import type { DeliveryLog } from '../../shared/aws/delivery-log';
import type { Connection, ConnectionStore } from '../../shared/aws/ws-connections';
import {
  ClientError,
  MAX_RESUME_UPDATES,
  orderStream,
  parseClientMessage,
  topicsOf,
  type ClientMessage,
  type OrderUpdate,
  type ServerMessage,
} from '../../shared/domain/live-delivery';
import type { OrderResult } from '../../shared/domain/order';

export interface WsConnectionDeps {
  connections: Pick<ConnectionStore, 'add' | 'get' | 'remove' | 'subscribe' | 'unsubscribe'>;
  log: Pick<DeliveryLog<OrderUpdate>, 'since' | 'last'>;
  poster: ConnectionPoster;
  /** The ledger's record of an order, and execute's record of it: what GET /orders/{orderId} reads. */
  getOrder: (orderId: string) => Promise<OrderResult | undefined>;
  records: Pick<OrderRecords, 'read'>;
  /** Order entry, the same use-cases POST /orders and DELETE /orders/{orderId} call (shared/aws/order-entry.ts). */
  entry: Pick<OrderEntry, 'place' | 'cancel'>;
  logger: Logger;
}

/** The parts of a WebSocket event (any route) this function reads. */
const WsEventSchema = z.object({
  requestContext: z.object({
    routeKey: z.string(),
    eventType: z.enum(['CONNECT', 'MESSAGE', 'DISCONNECT']),
    connectionId: z.string().min(1),
    requestId: z.string().optional(),
  }),
  headers: z.record(z.string(), z.string()).nullish(),
  body: z.string().nullish(),
});

/** The subprotocol a browser client offers next to its token (see the authorizer); echoed so the handshake holds. */
export const SUBPROTOCOL = 'trading';

const ok = (headers?: Record<string, string>): APIGatewayProxyStructuredResultV2 => ({
  statusCode: 200,
  ...(headers ? { headers } : {}),
});

/** A requestId to echo on a refusal, if the frame carried a usable one (the rest of it may be wrong). */
function requestIdOf(body: string | null | undefined): string | undefined {
  try {
    const id = (JSON.parse(body ?? '') as { requestId?: unknown }).requestId;
    return typeof id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** A place outcome as `order.submit` answers it: `order.accepted`, or the refusal as an error (docs/api.md). */
export function submitReply(outcome: PlaceOutcome): ServerMessage {
  switch (outcome.kind) {
    case 'entered':
    case 'expired': {
      const { kind: _kind, ...reply } = outcome;
      return { type: 'order.accepted', ...reply };
    }
    case 'invalid':
      throw new ClientError('VALIDATION', outcome.message, { errors: outcome.errors });
    case 'forbidden':
      throw new ClientError('FORBIDDEN', outcome.message);
    case 'rate-limited':
      throw new ClientError('RATE_LIMITED', outcome.message, { retryAfterSeconds: outcome.retryAfterSeconds });
    case 'conflict': {
      const { kind: _kind, message, ...details } = outcome;
      throw new ClientError('CONFLICT', message, details);
    }
  }
}

/** A cancel outcome as `order.cancel` answers it: `order.canceled`, or the refusal as an error. */
export function cancelReply(outcome: CancelOutcome): ServerMessage {
  switch (outcome.kind) {
    case 'canceled':
      return { type: 'order.canceled', orderId: outcome.orderId, status: outcome.status };
    case 'refused': {
      const { kind: _kind, ...details } = outcome;
      throw new ClientError('CONFLICT', `order ${outcome.orderId} is ${outcome.status}: too late to cancel`, details);
    }
    case 'invalid':
      throw new ClientError('BAD_REQUEST', outcome.message);
    case 'not-found':
      throw new ClientError('NOT_FOUND', outcome.message);
    case 'forbidden':
      throw new ClientError('FORBIDDEN', outcome.message);
  }
}

const principalOf = (c: Connection): Principal => ({
  kind: 'user',
  subject: c.subject,
  account: c.account,
  roles: c.roles,
});

/**
 * The WebSocket API's routes: $connect records the caller (the principal the $connect authorizer established),
 * $disconnect removes it with its subscriptions, and every message route (subscribe, unsubscribe, order.status,
 * resume, order.submit, order.cancel, and $default for anything else) is parsed, checked against the connection's
 * principal and answered through @connections. The account is always the connection's, never the message's.
 */
export function createWsConnectionHandler(deps: WsConnectionDeps) {
  // Longer than a screen as a whole: the inner functions share deps and the logger; each is short and one job.
  const { logger, connections } = deps;

  async function send(connectionId: string, message: ServerMessage): Promise<void> {
    if ((await deps.poster.post(connectionId, message)) === 'gone') await connections.remove(connectionId);
  }

  async function connect(connectionId: string, event: unknown, headers: Record<string, string>) {
    let principal: Principal;
    try {
      principal = principalFromEvent(event);
    } catch (error) {
      if (!(error instanceof PrincipalError)) throw error;
      logger.warn('connect refused', { reason: error.message });
      return { statusCode: 403 };
    }
    // Only users reach $connect: the route's authorizer is the user pool's token check.
    if (principal.kind !== 'user') return { statusCode: 403 };
    await connections.add({
      connectionId,
      subject: principal.subject,
      account: principal.account,
      roles: principal.roles,
    });
    const offered = Object.entries(headers).find(([n]) => n.toLowerCase() === 'sec-websocket-protocol')?.[1] ?? '';
    const echo = offered.split(',').some((p) => p.trim() === SUBPROTOCOL);
    return ok(echo ? { 'Sec-WebSocket-Protocol': SUBPROTOCOL } : undefined);
  }

  async function resume(connection: Connection, since: number, requestId?: string): Promise<void> {
    const stream = orderStream(connection.account);
    const entries = await deps.log.since(stream, since, MAX_RESUME_UPDATES);
    let lost: number;
    if (entries.length > 0) lost = entries[0]!.seq - since - 1;
    else {
      const last = await deps.log.last(stream);
      if (since > last) throw new ClientError('BAD_REQUEST', `since: ${since} is past the last update (${last})`);
      lost = last - since;
    }
    for (const { seq, payload } of entries)
      await send(connection.connectionId, { type: 'order.update', seq, order: payload });
    // `lost` > 0: updates older than the log's retention are gone; the client will never get them.
    await send(connection.connectionId, {
      type: 'resumed',
      ...(requestId ? { requestId } : {}),
      since,
      through: entries.at(-1)?.seq ?? since + lost,
      replayed: entries.length,
      more: entries.length === MAX_RESUME_UPDATES,
      lost,
    });
  }

  async function act(connection: Connection, message: ClientMessage, correlationId: string): Promise<void> {
    const { connectionId, account } = connection;
    const requestId = message.requestId ? { requestId: message.requestId } : {};
    switch (message.action) {
      case 'subscribe':
      case 'unsubscribe': {
        const topics = topicsOf(message.channel, message.symbols, account);
        if (message.action === 'subscribe') await connections.subscribe(connection, topics);
        else
          await connections.unsubscribe(
            connectionId,
            topics.filter((t) => connection.topics.includes(t)),
          );
        const type = message.action === 'subscribe' ? 'subscribed' : 'unsubscribed';
        const symbols = message.symbols ? { symbols: [...new Set(message.symbols)] } : {};
        return send(connectionId, { type, ...requestId, channel: message.channel, ...symbols });
      }
      case 'order.status': {
        const [order, execution] = await Promise.all([
          deps.getOrder(message.orderId),
          deps.records.read(message.orderId),
        ]);
        // Another account's order answers as an unknown one: its existence is not the caller's to learn.
        if (!order || !canRead(principalOf(connection), order.account))
          throw new ClientError('NOT_FOUND', `no order ${message.orderId}`);
        const reply = { orderId: message.orderId, order, execution: execution ?? null };
        return send(connectionId, { type: 'order.status', ...requestId, ...reply });
      }
      case 'resume':
        return resume(connection, message.since, message.requestId);
      // The account is the connection's (principalOf): an `account` in the order is refused as on POST /orders.
      case 'order.submit': {
        const outcome = await deps.entry.place(principalOf(connection), message.order, correlationId);
        return send(connectionId, { ...submitReply(outcome), ...requestId });
      }
      case 'order.cancel': {
        const outcome = await deps.entry.cancel(principalOf(connection), message.orderId);
        return send(connectionId, { ...cancelReply(outcome), ...requestId });
      }
    }
  }

  async function onMessage(connectionId: string, body: string | null | undefined, correlationId: string) {
    try {
      const connection = await connections.get(connectionId);
      // Its row is gone (TTL, a 410 elsewhere): the caller must connect again to be authorized again.
      if (!connection) throw new ClientError('FORBIDDEN', 'unknown connection; connect again');
      await act(connection, parseClientMessage(body), correlationId);
    } catch (error) {
      const requestId = requestIdOf(body);
      const known = error instanceof ClientError;
      if (!known) logger.error('message failed', { connectionId, error: error as Error });
      const reply = known
        ? { code: error.code, message: error.message, ...error.details }
        : { code: 'INTERNAL' as const, message: 'internal error; try again' };
      await send(connectionId, { type: 'error', ...(requestId ? { requestId } : {}), error: reply });
    }
  }

  return middy(async (event: unknown, _context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const parsed = WsEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`ws-connection expects a WebSocket API event: ${parsed.error.message}`);
    const { requestContext, headers, body } = parsed.data;
    const { connectionId, eventType } = requestContext;
    if (eventType === 'CONNECT') return connect(connectionId, event, headers ?? {});
    if (eventType === 'DISCONNECT') {
      await connections.remove(connectionId);
      return ok();
    }
    await onMessage(connectionId, body, requestContext.requestId ?? connectionId);
    return ok();
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
