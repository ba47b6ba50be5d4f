import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { OrderEvent } from './event';
import { AccountSchema, SymbolInputSchema, publicStatus } from './order';
import { TimeBoundSchema } from './time-bound';

/**
 * The order history (pure parts): GET /orders reads each order's execution record (OrdersTable,
 * shared/aws/order-records.ts) through two sparse global secondary indexes, keyed for it:
 *
 *   ByAccount: account (partition) + sk = `<commandTs, 13 digits>#<orderId>` (sort): an account's orders by time,
 *   and a time range is a key condition (BETWEEN), not a filter. The time is the order's creation (commandTs).
 *   BySymbol: accountSymbol (`<account>#<symbol>`) + sk: the same for one symbol of an account.
 *
 * An order has one execution record, written once with the event its publisher (execute, or a cancel that won)
 * published: ACCEPTED, REJECTED and CANCELED are all final, so the history needs no update rule of its own — the
 * record's first-write-wins condition is it. Items without these attributes (client order entries, records from
 * before events carried an account) are in neither index.
 */
export const HISTORY_BY_ACCOUNT_INDEX = 'ByAccount';
export const HISTORY_BY_SYMBOL_INDEX = 'BySymbol';
export type HistoryIndex = typeof HISTORY_BY_ACCOUNT_INDEX | typeof HISTORY_BY_SYMBOL_INDEX;
/** Each history index's partition key attribute; both sort by `sk`. */
export const HISTORY_INDEX_PARTITION: Record<HistoryIndex, keyof HistoryKeys> = {
  [HISTORY_BY_ACCOUNT_INDEX]: 'account',
  [HISTORY_BY_SYMBOL_INDEX]: 'accountSymbol',
};
export const DAY_SECONDS = 24 * 60 * 60;
/** How long an order stays in the history unless told otherwise (infra's orderHistoryRetentionDays). */
export const DEFAULT_HISTORY_RETENTION_DAYS = 90;
/** A record outlives any redelivery of its command (SQS keeps a message ≤ 14 days); past it the ledger answers. */
export const ORDER_RECORD_MIN_DAYS = 14;
const TS_DIGITS = 13;
/** Sorts after every orderId character (letters, digits, . _ : -), closing a time range inclusively. */
const SK_MAX_SUFFIX = '~';

/** The index keys an execution record carries. */
export interface HistoryKeys {
  account: string;
  sk: string;
  accountSymbol: string;
}

export const sortKey = (createdTs: number, orderId: string) =>
  `${String(createdTs).padStart(TS_DIGITS, '0')}#${orderId}`;
export const accountSymbolKey = (account: string, symbol: string) => `${account}#${symbol}`;

/** The index keys of an event's record; `undefined` when the event names no account. */
export function historyKeys(event: OrderEvent): HistoryKeys | undefined {
  if (!event.account) return undefined;
  return {
    account: event.account,
    sk: sortKey(event.commandTs, event.orderId),
    accountSymbol: accountSymbolKey(event.account, event.symbol),
  };
}

/** An order as GET /orders shows it (shared/api/schemas.ts HistoryOrderSchema), from the event its record holds. */
export function historyView(event: OrderEvent & { account: string }) {
  return {
    account: event.account,
    orderId: event.orderId,
    symbol: event.symbol,
    side: event.side,
    qty: event.quantity,
    price: event.price,
    status: publicStatus(event.status),
    reason: event.reason,
    seq: event.seq,
    createdTs: event.commandTs,
    updatedTs: event.executedTs,
    correlationId: event.correlationId,
  };
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
