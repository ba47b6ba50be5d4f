import { PutRecordsCommand, type KinesisClient, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { sleep as defaultSleep } from '../util/wait';

/** PutRecords' own limits: 500 records and 5 MiB (data plus partition keys) per call. */
export const PUT_RECORDS_MAX_RECORDS = 500;
export const PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024;

export interface StreamRecord {
  partitionKey: string;
  data: Uint8Array;
}

export type PutOutcome = { landed: true; shardId: string; sequenceNumber: string } | { landed: false; reason: string };

export interface RetryPolicy {
  /** Attempts per record, the first one included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 2_000 };

export interface PutRecordsDeps {
  kinesis: KinesisClient;
  streamName: string;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Told about every retry round, for the retries metric. */
  onRetry?: (records: number, attempt: number) => void;
}

/** Splits records into PutRecords-sized batches, keeping their order. */
export function chunkForPutRecords<T extends StreamRecord>(records: readonly T[]): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = record.data.byteLength + Buffer.byteLength(record.partitionKey);
    if (current.length > 0 && (current.length === PUT_RECORDS_MAX_RECORDS || bytes + size > PUT_RECORDS_MAX_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(record);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Writes records to the stream and says, per record, whether it landed. PutRecords is not atomic: some entries
 * of a call can fail (throttling, internal errors) while others land, so only the failed ones are retried, with
 * exponential backoff and full jitter; a whole call that throws is retried the same way. A record still failing
 * after the last attempt is reported as not landed, never as a success. (The SDK's own retries cover only
 * whole-call errors, not the per-record failures, which is why this loop exists.)
 */
export async function putRecords(deps: PutRecordsDeps, records: readonly StreamRecord[]): Promise<PutOutcome[]> {
  const retry = deps.retry ?? DEFAULT_RETRY_POLICY;
  const sleep = deps.sleep ?? defaultSleep;
  const outcomes: PutOutcome[] = new Array(records.length);
  let pending = records.map((record, index) => ({ record, index }));
  const lastReason = new Map<number, string>();
  for (let attempt = 1; attempt <= retry.maxAttempts && pending.length > 0; attempt++) {
    if (attempt > 1) {
      deps.onRetry?.(pending.length, attempt);
      const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 2));
      await sleep(Math.random() * ceiling);
    }
    const failed: typeof pending = [];
    for (const batch of chunkForPutRecords(pending.map((p) => ({ ...p.record, item: p })))) {
      const entries: PutRecordsRequestEntry[] = batch.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data }));
      try {
        const response = await deps.kinesis.send(
          new PutRecordsCommand({ StreamName: deps.streamName, Records: entries }),
        );
        const results = response.Records ?? [];
        batch.forEach(({ item }, i) => {
          const result = results[i];
          if (result?.SequenceNumber && result.ShardId && !result.ErrorCode) {
            outcomes[item.index] = { landed: true, shardId: result.ShardId, sequenceNumber: result.SequenceNumber };
          } else {
            lastReason.set(item.index, `${result?.ErrorCode ?? 'NoResult'}: ${result?.ErrorMessage ?? 'no result'}`);
            failed.push(item);
          }
        });
      } catch (error) {
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        for (const { item } of batch) {
          lastReason.set(item.index, reason);
          failed.push(item);
        }
      }
    }
    pending = failed;
  }
  for (const { index } of pending) {
    outcomes[index] = {
      landed: false,
      reason: `not written after ${retry.maxAttempts} attempts (${lastReason.get(index)})`,
    };
  }
  return outcomes;
}
