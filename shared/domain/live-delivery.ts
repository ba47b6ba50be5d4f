import * as z from 'zod';
import {
  bucketStart,
  CANDLE_INTERVALS,
  compareTicks,
  type CandleInterval,
  type CandleTick,
  type PublicCandle,
} from './candle';
import { AccountSchema, describeZodError, OrderIdSchema, SymbolInputSchema } from './order';
import { packMessages, unpack } from '../util/packing';

/**
 * The WebSocket API's messages (docs/api.md, "WebSocket message catalogue"): what a client may send, what the
 * server sends back, and the rules that need no I/O — the topics a subscription maps to, conflating ticks into
 * price updates, and the client's side of the delivery guarantee (seq).
 */

/** API Gateway refuses WebSocket frames over 32 KB for a route's body; we refuse earlier and say so. */
export const MAX_CLIENT_MESSAGE_BYTES = 16 * 1024;
export const MAX_SYMBOLS_PER_MESSAGE = 50;
/** Topics one connection may hold: bounds the fan-out rows a single client can make us write. */
export const MAX_TOPICS_PER_CONNECTION = 200;
/** Most missed order updates one `resume` replays; a client further behind asks again from the last seq it got. */
export const MAX_RESUME_UPDATES = 500;

export const CHANNELS = ['prices', 'candles', 'orders'] as const;
export const ChannelSchema = z.enum(CHANNELS, { error: `channel must be one of ${CHANNELS.join(', ')}` });
export type Channel = z.infer<typeof ChannelSchema>;

const RequestIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, 'requestId may contain only letters, digits and . _ : -');

const withRequestId = { requestId: RequestIdSchema.optional() };
const SubscriptionSchema = z.object({
  ...withRequestId,
  channel: ChannelSchema,
  symbols: z.array(SymbolInputSchema).min(1).max(MAX_SYMBOLS_PER_MESSAGE).optional(),
});

/** Every message a client may send, by its `action` (the WebSocket API's route selection key). */
export const ClientMessageSchema = z.discriminatedUnion('action', [
  SubscriptionSchema.extend({ action: z.literal('subscribe') }).strict(),
  SubscriptionSchema.extend({ action: z.literal('unsubscribe') }).strict(),
  z.object({ ...withRequestId, action: z.literal('order.status'), orderId: OrderIdSchema }).strict(),
  z.object({ ...withRequestId, action: z.literal('resume'), since: z.number().int().min(0) }).strict(),
  // The order is POST /orders' body as it is: order entry validates it (field by field) as it does for HTTP.
  z.object({ ...withRequestId, action: z.literal('order.submit'), order: z.unknown() }).strict(),
  z.object({ ...withRequestId, action: z.literal('order.cancel'), orderId: OrderIdSchema }).strict(),
]);
export type ClientMessage = z.infer<typeof ClientMessageSchema>;
export type Action = ClientMessage['action'];
export const ACTIONS: readonly Action[] = ClientMessageSchema.options.map((o) => o.shape.action.value);

export const ERROR_CODES = [
  'BAD_REQUEST',
  'UNKNOWN_ACTION',
  'FORBIDDEN',
  'NOT_FOUND',
  'TOO_MANY_SUBSCRIPTIONS',
  'VALIDATION',
  'CONFLICT',
  'RATE_LIMITED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** What an `error` message may carry beside code and message (order entry's field errors, conflicts, retry). */
export interface ErrorDetails {
  errors?: { field: string; message: string }[];
  orderId?: string;
  conflicts?: string[];
  status?: string;
  reason?: string | undefined;
  retryAfterSeconds?: number;
}

/** Thrown by the message handlers for a refusal the client should be told about (never half-applied). */
export class ClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }
}

/** Parses one frame's body into a client message, or throws ClientError naming what is wrong. */
export function parseClientMessage(body: string | undefined | null): ClientMessage {
  if (body === undefined || body === null || body.length === 0) throw new ClientError('BAD_REQUEST', 'empty message');
  if (Buffer.byteLength(body) > MAX_CLIENT_MESSAGE_BYTES)
    throw new ClientError('BAD_REQUEST', `message is larger than ${MAX_CLIENT_MESSAGE_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new ClientError('BAD_REQUEST', 'message is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ClientError('BAD_REQUEST', 'message must be a JSON object with an "action"');
  const action = (value as Record<string, unknown>).action;
  if (typeof action !== 'string') throw new ClientError('BAD_REQUEST', 'action: required (a string)');
  if (!(ACTIONS as readonly string[]).includes(action))
    throw new ClientError('UNKNOWN_ACTION', `unknown action "${action.slice(0, 64)}"; expected ${ACTIONS.join(', ')}`);
  const parsed = ClientMessageSchema.safeParse(value);
  if (!parsed.success) throw new ClientError('BAD_REQUEST', describeZodError(parsed.error));
  return parsed.data;
}

/** The topics a subscription stands for: one per symbol for market data, the caller's own account for orders. */
export function topicsOf(channel: Channel, symbols: string[] | undefined, account: string): string[] {
  if (channel === 'orders') {
    if (symbols)
      throw new ClientError('BAD_REQUEST', 'symbols: not allowed on the orders channel (it is your account)');
    return [orderTopic(account)];
  }
  if (!symbols) throw new ClientError('BAD_REQUEST', `symbols: required on the ${channel} channel`);
  return [...new Set(symbols)].map((symbol) => `${channel}#${symbol}`);
}

export const orderTopic = (account: string): string => `orders#${account}`;
export const priceTopic = (symbol: string): string => `prices#${symbol}`;
export const candleTopic = (symbol: string): string => `candles#${symbol}`;

/** The delivery-log stream of an account's order updates (its seq counts 1, 2, 3 … per stream). */
export const orderStream = (account: string): string => `orders#${account}`;

/**
 * An order event as the notifier reads it from the order-events topic: the fields it routes and dedups by; the
 * rest is passed on to the owner as it is. The account is the order's (the ledger's), never the subscriber's word.
 */
export const OrderUpdateSchema = z.looseObject({
  orderId: OrderIdSchema,
  account: AccountSchema,
  status: z.string().min(1).max(32),
});
export type OrderUpdate = z.infer<typeof OrderUpdateSchema>;

/**
 * The order-events message attribute of an event whose publisher (execute) sent its order update to the
 * account-updates queue itself: the notifier's subscription to the topic leaves it out (a filter policy), so the
 * forward hop — a queue delivery, a receive, an invocation and a send per ten orders — is only for the other
 * publishers' events (the orders function's CANCELED).
 */
export const LIVE_FORWARDED_ATTRIBUTE = 'liveForwarded';

/** One update per order and status: a redelivered event gets the seq its first delivery got. */
export const updateKey = (u: OrderUpdate): string => `${u.orderId}:${u.status}`;

/**
 * Most order updates one account-updates message carries: a group batch of execute's (an SQS FIFO receive is ten
 * messages). The notifier reads that queue one account at a time (group = account), ten messages per receive, so
 * one update per message capped an account near 10 updates per round trip; ten per message is ten times that, with
 * a tenth of the messages to send, receive and delete (docs/performance.md, session 28).
 */
export const MAX_UPDATES_PER_MESSAGE = 10;
/** Bytes of updates in one message at most: ten such messages stay under SQS's 256 KiB per SendMessageBatch. */
export const MAX_UPDATES_MESSAGE_BYTES = 24 * 1024;

/** An account-updates message: its account's updates, in the order they are to be numbered. */
export const AccountUpdatesMessageSchema = z
  .object({ updates: z.array(OrderUpdateSchema).min(1).max(MAX_UPDATES_PER_MESSAGE) })
  .strict()
  .refine((m) => m.updates.every((u) => u.account === m.updates[0]!.account), {
    message: 'updates: every update of a message must be of one account',
  });

/** One account-updates message to send: its body, group (the account), dedup id, and which updates it carries. */
export interface AccountUpdatesMessage {
  account: string;
  body: string;
  deduplicationId: string;
  /** Indexes into the updates given to accountUpdatesMessages. */
  indexes: number[];
}

/**
 * Packs updates into account-updates messages: each account's in their order, up to MAX_UPDATES_PER_MESSAGE and
 * MAX_UPDATES_MESSAGE_BYTES to a message. The deduplication id is the update's key for a message of one (as when
 * every update was a message of its own) and a digest of the keys for more, so a resend of the same updates within
 * SQS's 5-minute window is one message; anything else sent twice (another packing, a later resend) gets its seqs
 * again from the delivery log's dedup rows.
 */
export function accountUpdatesMessages(updates: readonly OrderUpdate[]): AccountUpdatesMessage[] {
  return packMessages(updates, {
    field: 'updates',
    groupOf: (u) => u.account,
    keyOf: updateKey,
    maxCount: MAX_UPDATES_PER_MESSAGE,
    maxBytes: MAX_UPDATES_MESSAGE_BYTES,
  }).map(({ group, ...message }) => ({ account: group, ...message }));
}

/**
 * The updates of an account-updates message, or why it is not one. A message of the format before packing (one
 * update, not wrapped) is read as a message of one, so what was queued across an upgrade is still delivered.
 */
export function parseAccountUpdates(body: string): OrderUpdate[] | string {
  const value = unpack(body, 'updates');
  if ('error' in value) return value.error;
  if ('packed' in value) {
    const packed = AccountUpdatesMessageSchema.safeParse({ updates: value.packed });
    return packed.success ? packed.data.updates : describeZodError(packed.error);
  }
  const one = OrderUpdateSchema.safeParse(value.one);
  return one.success ? [one.data] : describeZodError(one.error);
}

/** What the server sends. Every reply to a request carries its `requestId` when the request had one. */
export type ServerMessage =
  | { type: 'subscribed' | 'unsubscribed'; requestId?: string; channel: Channel; symbols?: string[] }
  | { type: 'order.update'; seq: number; order: OrderUpdate }
  | { type: 'price.update'; symbol: string; price: number; size: number; ts: number }
  | ({ type: 'candle.update'; symbol: string } & CandleUpdate)
  | { type: 'order.accepted'; requestId?: string; orderId: string; status: 'PENDING' | 'EXPIRED'; reason?: string }
  | { type: 'order.canceled'; requestId?: string; orderId: string; status: 'CANCELED' }
  | { type: 'order.status'; requestId?: string; orderId: string; order: unknown; execution: unknown }
  | {
      type: 'resumed';
      requestId?: string;
      since: number;
      through: number;
      replayed: number;
      more: boolean;
      /** Updates after `since` no longer in the log (older than its retention): the client will never get them. */
      lost: number;
    }
  | { type: 'error'; requestId?: string; error: { code: ErrorCode; message: string } & ErrorDetails };

/** A candle as `candle.update` carries it: the interval so far, as GET /candles returns it. */
export type CandleUpdate = PublicCandle & { interval: CandleInterval };

/** A candle a batch of ticks touched, and the batch's newest tick in it (by ts, tickId: the candle's own order). */
export interface TouchedCandle {
  ref: { symbol: string; interval: CandleInterval; start: number };
  newest: CandleTick;
}

/** Every candle (each interval's bucket) the ticks fall in, once, with its newest tick of the batch. */
export function touchedCandles(ticks: Iterable<CandleTick & { symbol: string }>): TouchedCandle[] {
  const touched = new Map<string, TouchedCandle>();
  for (const tick of ticks)
    for (const interval of CANDLE_INTERVALS) {
      const ref = { symbol: tick.symbol, interval, start: bucketStart(tick.ts, interval) };
      const key = `${ref.symbol}#${interval}#${ref.start}`;
      const seen = touched.get(key);
      if (!seen || compareTicks(tick, seen.newest) > 0) touched.set(key, { ref, newest: tick });
    }
  return [...touched.values()];
}

/** The latest tick of each symbol in a batch: a price subscriber wants the price now, not every print. */
export function latestPerSymbol<T extends { symbol: string; ts: number }>(ticks: Iterable<T>): T[] {
  const latest = new Map<string, T>();
  for (const tick of ticks) {
    const seen = latest.get(tick.symbol);
    if (!seen || tick.ts >= seen.ts) latest.set(tick.symbol, tick);
  }
  return [...latest.values()];
}

/**
 * The client's half of the guarantee: updates arrive at least once, each with its stream's seq (1, 2, 3 …).
 * `deliver`: the next one; `duplicate`: seen already (drop it); `gap`: some are missing (send resume {since}).
 */
export function classifySeq(lastSeen: number, seq: number): 'deliver' | 'duplicate' | 'gap' {
  if (seq <= lastSeen) return 'duplicate';
  return seq === lastSeen + 1 ? 'deliver' : 'gap';
}
