import * as z from 'zod';
import { CANDLE_INTERVALS, type CandleInterval } from './candle';
import { SymbolInputSchema } from './order';
import { TimestampMsSchema } from './tick';
import { TimeBoundSchema } from './time-bound';

/**
 * GET /ticks and GET /candles query strings, validated into queries the store can run, or into field-level
 * errors. Times are epoch milliseconds (the unit ticks carry) or ISO 8601 date-times, as GET /orders takes them;
 * the range is half-open, from ≤ t < to. Pages are continued with an opaque cursor bound to the query it came from.
 */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The widest range one request may ask for: wider ones are refused rather than scanned. */
export const MAX_RANGE_MS = { ticks: DAY, '1m': 7 * DAY, '5m': 31 * DAY, '1h': 366 * DAY } as const;

export interface FieldError {
  field: string;
  message: string;
}

export interface TicksQuery {
  symbol: string;
  from: number;
  to: number;
  limit: number;
  /** The last tick sort key of the previous page. */
  after?: string;
}

export interface CandlesQuery {
  symbol: string;
  interval: CandleInterval;
  from: number;
  to: number;
  limit: number;
  /** The last bucket start of the previous page. */
  after?: number;
}

export type Parsed<Q> = { ok: true; query: Q } | { ok: false; errors: FieldError[] };

const epochMs = TimeBoundSchema.pipe(TimestampMsSchema);
const limit = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a whole number')
  .transform(Number)
  .pipe(z.number().int().min(1).max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`))
  .default(DEFAULT_LIMIT);
function required<T>(schema: z.ZodType<T, string>) {
  return z.string({ error: (issue) => (issue.input === undefined ? 'is required' : undefined) }).pipe(schema);
}

const RangeSchema = z.object({
  symbol: required(SymbolInputSchema),
  from: required(epochMs),
  to: required(epochMs),
  limit,
  cursor: z.string().max(512, 'is too long').optional(),
});
/** GET /ticks' query string (exported for the API contract, shared/api). */
export const TicksSchema = RangeSchema.strict();
/** GET /candles' query string. */
export const CandlesSchema = RangeSchema.extend({
  interval: required(z.enum(CANDLE_INTERVALS, { error: `must be one of ${CANDLE_INTERVALS.join(', ')}` })),
}).strict();

const CursorSchema = z.object({ q: z.string(), a: z.union([z.string().max(200), z.number().int()]) }).strict();

function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    field: issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.') || '(query)',
    message: issue.code === 'unrecognized_keys' ? 'is not a parameter of this route' : issue.message,
  }));
}

/** What a cursor is bound to: another query's cursor would skip or repeat items here, so it is refused. */
const fingerprint = (q: { symbol: string; from: number; to: number; interval?: string }) =>
  [q.symbol, q.interval ?? 'ticks', q.from, q.to].join('|');

export function encodeCursor(
  q: { symbol: string; from: number; to: number; interval?: string },
  after: string | number,
) {
  return Buffer.from(JSON.stringify({ q: fingerprint(q), a: after })).toString('base64url');
}

function decodeCursor(
  raw: string,
  q: { symbol: string; from: number; to: number; interval?: string },
): { ok: true; after: string | number } | { ok: false; error: FieldError } {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    json = undefined;
  }
  const parsed = CursorSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: { field: 'cursor', message: 'is not a cursor this API issued' } };
  if (parsed.data.q !== fingerprint(q)) {
    return { ok: false, error: { field: 'cursor', message: 'belongs to another query (symbol, interval, from, to)' } };
  }
  return { ok: true, after: parsed.data.a };
}

function checkRange(from: number, to: number, maxMs: number, what: string): FieldError[] {
  if (from >= to) return [{ field: 'to', message: 'must be after from' }];
  if (to - from > maxMs) {
    return [{ field: 'to', message: `the range may span at most ${maxMs / HOUR} hours for ${what}` }];
  }
  return [];
}

type RawQuery = Record<string, string | undefined> | undefined;

/** The checks both routes share once the fields are valid: the range, then the cursor (its `after` of `type`). */
function withRange<Q extends { symbol: string; from: number; to: number; interval?: string }, A>(
  query: Q,
  cursor: string | undefined,
  maxMs: number,
  what: string,
  isAfter: (after: string | number) => after is A & (string | number),
): Parsed<Q & { after?: A }> {
  const rangeErrors = checkRange(query.from, query.to, maxMs, what);
  if (rangeErrors.length > 0) return { ok: false, errors: rangeErrors };
  if (cursor === undefined) return { ok: true, query };
  const decoded = decodeCursor(cursor, query);
  if (!decoded.ok) return { ok: false, errors: [decoded.error] };
  if (!isAfter(decoded.after))
    return { ok: false, errors: [{ field: 'cursor', message: `is not a ${what} cursor within from..to` }] };
  return { ok: true, query: { ...query, after: decoded.after } };
}

export function parseTicksQuery(raw: RawQuery): Parsed<TicksQuery> {
  const parsed = TicksSchema.safeParse(raw ?? {});
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error) };
  const { cursor, ...query } = parsed.data;
  // A tick cursor is a sort key, `<ts, 13 digits>#<tickId>`, of a tick inside the range.
  const isAfter = (a: string | number): a is string =>
    typeof a === 'string' &&
    /^\d{13}#/.test(a) &&
    Number(a.slice(0, 13)) >= query.from &&
    Number(a.slice(0, 13)) < query.to;
  return withRange(query, cursor, MAX_RANGE_MS.ticks, 'ticks', isAfter);
}

export function parseCandlesQuery(raw: RawQuery): Parsed<CandlesQuery> {
  const parsed = CandlesSchema.safeParse(raw ?? {});
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error) };
  const { cursor, ...query } = parsed.data;
  const what = `${query.interval} candles`;
  const isAfter = (a: string | number): a is number => typeof a === 'number' && a >= query.from && a < query.to;
  return withRange(query, cursor, MAX_RANGE_MS[query.interval], what, isAfter);
}
