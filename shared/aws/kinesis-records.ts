import * as z from 'zod';
import { describeZodError } from '../domain/order';
import { TickRecordSchema, type TickRecord } from '../domain/tick';

/** The parts of a Kinesis ESM record a stream consumer relies on (the @types/aws-lambda KinesisStreamRecord shape). */
const KinesisRecordSchema = z.object({
  eventID: z.string().min(1),
  eventSourceARN: z.string().min(1),
  kinesis: z.object({
    partitionKey: z.string(),
    sequenceNumber: z.string().regex(/^\d+$/, 'sequenceNumber must be decimal digits'),
    data: z.string(),
  }),
});

export const KinesisEventSchema = z.object({ Records: z.array(z.unknown()) });

export type DecodedRecord =
  | { ok: true; sequenceNumber: string; shardId: string; tickRecord: TickRecord }
  | { ok: false; sequenceNumber: string | undefined; reason: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Turns one stream record into a tick, or says exactly why it cannot (a poison record). The shard id comes
 * from the event id, which Lambda forms as `<shardId>:<sequenceNumber>`.
 */
export function decodeRecord(raw: unknown): DecodedRecord {
  const envelope = KinesisRecordSchema.safeParse(raw);
  if (!envelope.success) {
    const seq = (raw as { kinesis?: { sequenceNumber?: unknown } } | null)?.kinesis?.sequenceNumber;
    return {
      ok: false,
      sequenceNumber: typeof seq === 'string' ? seq : undefined,
      reason: `not a Kinesis record: ${describeZodError(envelope.error)}`,
    };
  }
  const { eventID, kinesis } = envelope.data;
  const sequenceNumber = kinesis.sequenceNumber;
  const shardId = eventID.split(':')[0] ?? '';
  if (!/^shardId-\d+$/.test(shardId)) {
    return { ok: false, sequenceNumber, reason: `eventID "${eventID}" does not start with a shard id` };
  }
  if (!BASE64.test(kinesis.data)) return { ok: false, sequenceNumber, reason: 'data is not base64' };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(kinesis.data, 'base64').toString('utf8'));
  } catch (error) {
    return { ok: false, sequenceNumber, reason: `data is not JSON: ${(error as Error).message}` };
  }
  const parsed = TickRecordSchema.safeParse(json);
  if (!parsed.success)
    return { ok: false, sequenceNumber, reason: `invalid tick record: ${describeZodError(parsed.error)}` };
  if (parsed.data.tick.symbol !== kinesis.partitionKey) {
    return {
      ok: false,
      sequenceNumber,
      reason: `partition key "${kinesis.partitionKey}" is not the tick's symbol "${parsed.data.tick.symbol}"`,
    };
  }
  return { ok: true, sequenceNumber, shardId, tickRecord: parsed.data };
}
