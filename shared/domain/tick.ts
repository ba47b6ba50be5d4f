import * as z from 'zod';
import { CanonicalSymbolSchema, describeZodError } from './order';

/** The most ticks one POST /ticks may carry (the same as one PutRecords call). */
export const MAX_TICKS_PER_REQUEST = 500;

/** Epoch milliseconds between 2000-01-01 and 2100-01-01: anything else is a unit mistake (seconds, micros). */
export const TimestampMsSchema = z
  .number()
  .int('must be an integer (epoch milliseconds)')
  .min(946_684_800_000, 'must be epoch milliseconds after 2000-01-01')
  .max(4_102_444_800_000, 'must be epoch milliseconds before 2100-01-01');

export const TickIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, 'tickId may contain only letters, digits and . _ : -');

export const TickSchema = z
  .object({
    symbol: CanonicalSymbolSchema,
    price: z.number().positive().finite().max(1e12),
    size: z.number().positive().finite().max(1e12),
    ts: TimestampMsSchema,
    tickId: TickIdSchema.optional(),
  })
  .strict();
export type Tick = z.infer<typeof TickSchema>;

export const CorrelationIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'correlationId may contain only letters, digits and . _ : -');

/**
 * A tick as it travels the stream: always with a tickId (the client's, or one ingest assigns). (symbol, tickId) is
 * the tick's identity: its orders' ids derive from it, and process skips a tickId it has recently applied, so a
 * tick ingested twice (a client retry, an ambiguous PutRecords retry) yields its orders once.
 */
export const StreamTickSchema = TickSchema.required({ tickId: true });
export type StreamTick = z.infer<typeof StreamTickSchema>;

/** What ingest writes as the data of one Kinesis record: the tick plus the id that follows it to its order event. */
export const TickRecordSchema = z
  .object({
    tick: StreamTickSchema,
    correlationId: CorrelationIdSchema,
    ingestedAt: TimestampMsSchema,
  })
  .strict();
export type TickRecord = z.infer<typeof TickRecordSchema>;

export interface RejectedTick {
  index: number;
  reason: string;
}

export type TickBatchParse =
  { ok: true; valid: { index: number; tick: Tick }[]; rejected: RejectedTick[] } | { ok: false; reason: string };

/**
 * Validates the body of POST /ticks: one tick or an array of up to MAX_TICKS_PER_REQUEST. Each tick is judged on
 * its own, so one bad tick costs only itself; a body that is neither is refused as a whole.
 */
export function parseTickBatch(body: unknown): TickBatchParse {
  const items = Array.isArray(body) ? body : [body];
  if (Array.isArray(body) && body.length === 0) return { ok: false, reason: 'the array of ticks is empty' };
  if (items.length > MAX_TICKS_PER_REQUEST) {
    return { ok: false, reason: `at most ${MAX_TICKS_PER_REQUEST} ticks per request, got ${items.length}` };
  }
  const valid: { index: number; tick: Tick }[] = [];
  const rejected: RejectedTick[] = [];
  items.forEach((item, index) => {
    const parsed = TickSchema.safeParse(item);
    if (parsed.success) valid.push({ index, tick: parsed.data });
    else rejected.push({ index, reason: describeZodError(parsed.error) });
  });
  return { ok: true, valid, rejected };
}
