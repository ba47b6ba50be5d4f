import { OrderIdSchema } from './order';

/**
 * An order's id is a function of where its tick sits in the stream (shard and sequence number) and its index
 * among the orders that tick produced, so replaying a batch yields the very same ids and every duplicate
 * downstream (SQS FIFO deduplication, the execute claim, the ledger) recognises it.
 */
export function deriveOrderId(shardId: string, sequenceNumber: string, index: number): string {
  if (!/^[A-Za-z0-9-]+$/.test(shardId)) throw new Error(`shardId "${shardId}" is not a Kinesis shard id`);
  if (!/^\d+$/.test(sequenceNumber)) throw new Error(`sequenceNumber "${sequenceNumber}" is not a decimal number`);
  if (!Number.isInteger(index) || index < 0) throw new Error(`order index ${index} is not a non-negative integer`);
  return OrderIdSchema.parse(`${shardId}:${sequenceNumber}:${index}`);
}

/** Kinesis sequence numbers are decimal strings too long for a double; compare them exactly. */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
