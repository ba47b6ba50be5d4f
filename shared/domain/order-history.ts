import { createHash } from 'node:crypto';
import * as z from 'zod';
import { OrderEventSchema, type OrderEvent } from './event';
import { AccountSchema, SymbolInputSchema, publicStatus } from './order';
import { TimeBoundSchema } from './time-bound';

/**
 * The order history (pure parts): one item per order in OrderHistoryTable, keyed for GET /orders.
 *
 *   account (partition) + sk = `<commandTs, 13 digits>#<orderId>` (sort): an account's orders by time, and a
 *   time range is a key condition (BETWEEN), not a filter. The time is the order's creation (commandTs), which
 *   every event of the order carries unchanged, so each status update lands on the same item.
 *   accountSymbol (`<account>#<symbol>`) + sk: the BySymbol index, the same for one symbol of an account.
 *
 * Status updates are monotonic: an event replaces the item only if its status ranks higher, or ranks the same,
 * is not final and is newer. A redelivered event, or an older one arriving after a newer one (another group, a
 * retry), changes nothing, and a final status (REJECTED, EXECUTED, CANCELED, …) is never left.
 */
export const HISTORY_INDEX = 'BySymbol';
/**
 * The message attribute of an order event whose history item its publisher wrote already (execute does, in its batch
 * step): the history subscription's filter policy leaves such events out (infra/constructs/order-history.ts), so the
 * history writer only gets those of other publishers (the orders function's CANCELED events).
 */
export const HISTORY_WRITTEN_ATTRIBUTE = 'historyWritten';
const TS_DIGITS = 13;
/** Sorts after every orderId character (letters, digits, . _ : -), closing a time range inclusively. */
const SK_MAX_SUFFIX = '~';

/** The rank of a status: working < ACCEPTED (the ledger took it) < final. Unknown statuses count as working. */
const STATUS_RANK: Record<string, number> = {
  NEW: 1,
  PENDING: 1,
  ACCEPTED: 2,
  REJECTED: 3,
  EXECUTED: 3,
  FILLED: 3,
  CANCELED: 3,
  EXPIRED: 3,
};
export const FINAL_RANK = 3;
export const statusRank = (status: string): number => STATUS_RANK[status] ?? 1;

/** An event as the history reads it: execute's event, with the client's order id when the order came with one. */
export const HistoryEventSchema = OrderEventSchema.extend({
  clientOrderId: z.string().min(1).max(128).optional(),
});
export type HistoryEvent = z.infer<typeof HistoryEventSchema>;

export interface HistoryItem {
  account: string;
  sk: string;
  accountSymbol: string;
  orderId: string;
  clientOrderId?: string;
  symbol: string;
  side: OrderEvent['side'];
  qty: number;
  price: number;
  status: string;
  statusRank: number;
  reason: string | null;
  seq: number | null;
  createdTs: number;
  updatedTs: number;
  correlationId: string;
  /** TTL (epoch seconds): DynamoDB removes the item after the retention. */
  expiration: number;
}

export const sortKey = (createdTs: number, orderId: string) =>
  `${String(createdTs).padStart(TS_DIGITS, '0')}#${orderId}`;
export const accountSymbolKey = (account: string, symbol: string) => `${account}#${symbol}`;

/** The item an event writes; `undefined` when the event names no account (recorded before events carried it). */
export function historyItem(event: HistoryEvent, retentionDays: number): HistoryItem | undefined {
  if (!event.account) return undefined;
  return {
    account: event.account,
    sk: sortKey(event.commandTs, event.orderId),
    accountSymbol: accountSymbolKey(event.account, event.symbol),
    orderId: event.orderId,
    ...(event.clientOrderId ? { clientOrderId: event.clientOrderId } : {}),
    symbol: event.symbol,
    side: event.side,
    qty: event.quantity,
    price: event.price,
    status: event.status,
    statusRank: statusRank(event.status),
    reason: event.reason,
    seq: event.seq,
    createdTs: event.commandTs,
    updatedTs: event.executedTs,
    correlationId: event.correlationId,
    expiration: Math.floor(event.commandTs / 1000) + retentionDays * 24 * 60 * 60,
  };
}

/** What a caller may see of an item (keys and bookkeeping stay inside), its status in the API's words. */
export function historyView(item: HistoryItem) {
  const { sk: _sk, accountSymbol: _as, statusRank: _rank, expiration: _exp, ...view } = item;
  return { ...view, status: publicStatus(view.status) };
}

export const MAX_PAGE = 100;
const DEFAULT_PAGE = 50;

/** GET /orders's query string (account is checked against the caller separately). */
export const HistoryQuerySchema = z
  .object({
    account: AccountSchema.optional(),
    symbol: SymbolInputSchema.optional(),
    from: TimeBoundSchema.optional(),
    to: TimeBoundSchema.optional(),
    limit: z
      .string()
      .regex(/^\d+$/, `must be an integer 1..${MAX_PAGE}`)
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_PAGE))
      .default(DEFAULT_PAGE),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict()
  .refine((q) => q.from === undefined || q.to === undefined || q.from <= q.to, {
    message: 'must not be after to',
    path: ['from'],
  });
export type HistoryQuery = z.infer<typeof HistoryQuerySchema>;

/** One page of an account's history, resolved: where to read and between which sort keys. */
export interface HistoryRange {
  account: string;
  symbol?: string;
  fromSk: string;
  toSk: string;
  limit: number;
  /** The sort key of the last item of the previous page. */
  after?: string;
}

export class CursorError extends Error {}

const digest = (parts: unknown[]) =>
  createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);

/** Binds a cursor to the query it continues: a cursor of another account, symbol or range is refused. */
const fingerprint = (r: Omit<HistoryRange, 'limit' | 'after'>) => digest([r.account, r.symbol ?? '', r.fromSk, r.toSk]);

/**
 * `h` makes any edit of the cursor detectable. It is a checksum, not a keyed MAC, on purpose: what a forged cursor
 * could do is start the same, already authorized query (the caller's own account) at another point — the account
 * check, not the cursor, is the security boundary — so no secret has to be deployed for it.
 */
const CursorSchema = z.object({ v: z.literal(1), q: z.string(), after: z.string(), h: z.string() }).strict();

/** The opaque cursor of the page after the one that ended at `lastSk`. */
export function encodeCursor(range: HistoryRange, lastSk: string): string {
  const q = fingerprint(range);
  return Buffer.from(JSON.stringify({ v: 1, q, after: lastSk, h: digest([q, lastSk]) })).toString('base64url');
}

/**
 * The range to read for a query (account already decided); throws CursorError when the cursor is not one this
 * query handed out: not decodable, another query's, or pointing outside the range.
 */
export function historyRange(account: string, q: HistoryQuery): HistoryRange {
  const range: HistoryRange = {
    account,
    ...(q.symbol ? { symbol: q.symbol } : {}),
    fromSk: sortKey(q.from ?? 0, ''),
    toSk: sortKey(q.to ?? 10 ** TS_DIGITS - 1, SK_MAX_SUFFIX),
    limit: q.limit,
  };
  if (q.cursor === undefined) return range;
  let decoded: unknown;
  try {
    const bytes = Buffer.from(q.cursor, 'base64url');
    // Node's decoder skips characters it cannot use (a stray one appended, say): only the exact encoding counts.
    if (bytes.toString('base64url') !== q.cursor) throw new CursorError('not canonical');
    decoded = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new CursorError('is not a cursor this API handed out');
  }
  const cursor = CursorSchema.safeParse(decoded);
  if (!cursor.success || cursor.data.h !== digest([cursor.data.q, cursor.data.after])) {
    throw new CursorError('is not a cursor this API handed out');
  }
  if (cursor.data.q !== fingerprint(range)) {
    throw new CursorError('is not a cursor of this query (account, symbol, from and to must stay the same)');
  }
  if (cursor.data.after < range.fromSk || cursor.data.after > range.toSk) {
    throw new CursorError('points outside the requested range');
  }
  return { ...range, after: cursor.data.after };
}
