import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { SQS_BATCH_LIMIT } from './fifo-batch';

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
export function poisonMessage(source: string, p: PoisonRecord): string {
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
 * Sends each poison record to the failure queue at once, ten to a SendMessageBatch, so that it never holds the
 * shard: a record that can never become valid is not worth a retry. Returns the records whose message did not get
 * there (a refused entry, a failed call), with why: the caller reports them failed and sends them again on the
 * retry, so the queue may hold one twice — it is read by people, not by a consumer.
 */
export async function setAsidePoison(
  sqs: SQSClient,
  queueUrl: string,
  source: string,
  poison: readonly PoisonRecord[],
): Promise<{ sequenceNumber: string; reason: string }[]> {
  const unsent: { sequenceNumber: string; reason: string }[] = [];
  for (let start = 0; start < poison.length; start += SQS_BATCH_LIMIT) {
    const chunk = poison.slice(start, start + SQS_BATCH_LIMIT);
    try {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((p, i) => ({ Id: String(i), MessageBody: poisonMessage(source, p) })),
        }),
      );
      for (const f of out.Failed ?? [])
        unsent.push({ sequenceNumber: chunk[Number(f.Id)]!.sequenceNumber, reason: `${f.Code}: ${f.Message}` });
    } catch (error) {
      unsent.push(...chunk.map((p) => ({ sequenceNumber: p.sequenceNumber, reason: (error as Error).message })));
    }
  }
  return unsent;
}
