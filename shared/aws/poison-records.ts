import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendMessageBatch } from './fifo-batch';

/** A stream record a consumer can never apply, and why. */
export interface PoisonRecord {
  sequenceNumber: string;
  reason: string;
  /** The record as Lambda delivered it (eventID, kinesis.partitionKey, kinesis.data …). */
  raw: unknown;
}

/** The record's data kept in a failure message at most (SQS takes 256 KiB a message; a Kinesis record up to 1 MiB). */
const MAX_DATA_CHARS = 128 * 1024;

/** The message a consumer leaves in its failure queue for one poison record: the reason and the record itself. */
function poisonMessage(source: string, p: PoisonRecord): string {
  const raw = p.raw as { eventID?: unknown; kinesis?: { partitionKey?: unknown; data?: unknown } } | null;
  const data = typeof raw?.kinesis?.data === 'string' ? raw.kinesis.data : undefined;
  return JSON.stringify({
    source,
    reason: p.reason.slice(0, 1024),
    sequenceNumber: p.sequenceNumber,
    eventID: raw?.eventID,
    partitionKey: raw?.kinesis?.partitionKey,
    ...(data === undefined ? {} : { data: data.slice(0, MAX_DATA_CHARS), dataTruncated: data.length > MAX_DATA_CHARS }),
  });
}

/**
 * Sends each poison record to the failure queue at once (sendMessageBatch: ten to a call, a refused entry resent
 * with back-off), so that it never holds the shard: a record that can never become valid is not worth a retry.
 * Returns the records whose message did not get there, with why — all of them when a call failed whole, since
 * which chunks got there before it is not told: the caller reports them failed and sends them again on the retry,
 * so the queue may hold one twice — it is read by people, not by a consumer.
 */
export async function setAsidePoison(
  sqs: SQSClient,
  queueUrl: string,
  source: string,
  poison: readonly PoisonRecord[],
): Promise<{ sequenceNumber: string; reason: string }[]> {
  if (poison.length === 0) return [];
  try {
    const { failed } = await sendMessageBatch(
      sqs,
      queueUrl,
      poison.map((p) => ({ body: poisonMessage(source, p) })),
    );
    return failed.map((f) => ({ sequenceNumber: poison[f.index]!.sequenceNumber, reason: f.reason }));
  } catch (error) {
    return poison.map((p) => ({ sequenceNumber: p.sequenceNumber, reason: (error as Error).message }));
  }
}
