import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  TransactWriteCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';

/** One item of a TransactWriteItems, and one conditional put, as the document client takes them. */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];
export type TransactPut = NonNullable<TransactItem['Put']>;

/**
 * One TransactWriteItems: undefined when it was written, else the reason code of each item from its cancellation, in
 * item order ('None' for an item that was fine). Any other error is thrown. The callers decide what the reasons
 * mean (a failed condition that stands, a conflict worth a retry) — the order records, the market data.
 */
export async function transactWrite(doc: DynamoDBDocumentClient, items: TransactItem[]): Promise<string[] | undefined> {
  try {
    await doc.send(new TransactWriteCommand({ TransactItems: items }));
    return undefined;
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    return (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
  }
}

/** Transactions cancelled for a reason a retry may fix (TransactionConflict, throttling) are tried this often. */
const CONFLICT_ATTEMPTS = 5;

/**
 * After a cancellation a retry may fix (a conflicting writer, throttling; the order records count a failed
 * condition as an answer, not as this): waits 20 · 2^attempt ms (plus up to 20 ms of jitter) before the next
 * try, or throws `failure()` once CONFLICT_ATTEMPTS tries were cancelled so.
 */
export async function backOffAfterConflict(
  attempt: number,
  sleep: (ms: number) => Promise<void>,
  failure: () => Error,
): Promise<void> {
  if (attempt >= CONFLICT_ATTEMPTS) throw failure();
  await sleep(20 * 2 ** attempt + Math.random() * 20);
}
