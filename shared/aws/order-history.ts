import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  encodeCursor,
  FINAL_RANK,
  HISTORY_INDEX,
  accountSymbolKey,
  type HistoryItem,
  type HistoryRange,
} from '../domain/order-history';
import { sleep as defaultSleep } from '../util/wait';
import { backOffAfterConflict, transactWrite } from './transact-write';

export type WriteOutcome = 'written' | 'unchanged';

/** TransactWriteItems takes at most 100 items; the history mapping delivers at most 10 messages. */
const TRANSACTION_LIMIT = 100;

/**
 * The put condition: the stored item stands if its status rank is higher, or the same non-final rank and not
 * older, or a final status. `supersedes` is the same rule in memory, for two events of one order in one batch.
 */
const STANDS_CONDITION =
  'attribute_not_exists(sk) OR statusRank < :rank OR (statusRank = :rank AND :rank < :final AND updatedTs < :ts)';
const supersedes = (next: HistoryItem, current: HistoryItem) =>
  current.statusRank < next.statusRank ||
  (current.statusRank === next.statusRank && next.statusRank < FINAL_RANK && current.updatedTs < next.updatedTs);
const itemKey = (item: HistoryItem) => `${item.account}\u0000${item.sk}`;

function conditionalPut(tableName: string, item: HistoryItem) {
  return {
    TableName: tableName,
    Item: item,
    ConditionExpression: STANDS_CONDITION,
    ExpressionAttributeValues: { ':rank': item.statusRank, ':final': FINAL_RANK, ':ts': item.updatedTs },
  };
}

/**
 * OrderHistoryTable (shared/domain/order-history.ts has the key design and the status rules): the history writer
 * puts, the api queries. One home for both, so the key layout lives in one place.
 */
export class OrderHistoryStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {}

  /**
   * The item's conditional put, for a caller's own TransactWriteItems: execute writes an order's history item in
   * the transaction of its execution record (OrderRecords' companion), so the two never part.
   */
  putOf(item: HistoryItem) {
    return conditionalPut(this.tableName, item);
  }

  /**
   * Writes the item unless the stored one stands: a higher status rank, or the same non-final rank and not older,
   * or a final status. 'unchanged' (a redelivery, an out-of-order event) is as good as written for the caller.
   */
  async write(item: HistoryItem): Promise<WriteOutcome> {
    try {
      await this.doc.send(new PutCommand(conditionalPut(this.tableName, item)));
      return 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'unchanged';
      throw error;
    }
  }

  /**
   * Writes many items at batch cost: one TransactWriteItems of the conditional puts (per 100). A transaction is
   * cancelled as a whole; CancellationReasons say which items' conditions failed — those stand already (a
   * redelivery, an older event) and are 'unchanged' — and the rest is tried again without them; a second call
   * only when the batch mixes new and recorded events. Other cancellation reasons (TransactionConflict,
   * throttling) are retried with backoff, then thrown. Two events of one order in the batch (a transaction takes
   * an item once) are folded by the same rule first: the superseded one is 'unchanged'. The result is the
   * one sequential `write` calls would leave. An error that is not a cancellation (network, service) is thrown:
   * nothing of that call was written (a transaction is atomic), and an earlier chunk's items stand as written.
   * Outcomes are in the order of `items`.
   */
  async writeAll(items: readonly HistoryItem[]): Promise<WriteOutcome[]> {
    const outcomes: WriteOutcome[] = items.map(() => 'unchanged');
    const winners = new Map<string, number>();
    for (const [i, item] of items.entries()) {
      const held = winners.get(itemKey(item));
      if (held === undefined || supersedes(item, items[held]!)) winners.set(itemKey(item), i);
    }
    const indexes = [...winners.values()].sort((a, b) => a - b);
    for (let start = 0; start < indexes.length; start += TRANSACTION_LIMIT) {
      const chunk = indexes.slice(start, start + TRANSACTION_LIMIT);
      for (const i of await this.writeChunk(chunk.map((i) => items[i]!))) outcomes[chunk[i]!] = 'written';
    }
    return outcomes;
  }

  /** Positions (in `items`) that were written; the others stood already. */
  private async writeChunk(items: HistoryItem[]): Promise<number[]> {
    let pending = items.map((_, i) => i);
    for (let attempt = 1; pending.length > 0; attempt++) {
      const reasons = await transactWrite(
        this.doc,
        pending.map((i) => ({ Put: conditionalPut(this.tableName, items[i]!) })),
      );
      if (reasons === undefined) return pending;
      if (reasons.length !== pending.length) throw new Error(`order history: cancelled, reasons ${reasons.join(', ')}`);
      const others = reasons.some((r) => r !== 'ConditionalCheckFailed' && r !== 'None');
      if (others)
        await backOffAfterConflict(attempt, this.sleep, () => new Error(`order history: ${reasons.join(', ')}`));
      pending = pending.filter((_, k) => reasons[k] !== 'ConditionalCheckFailed');
    }
    return [];
  }

  /** One page, newest first; `nextCursor` only when more items are in the range. */
  async list(range: HistoryRange): Promise<{ items: HistoryItem[]; nextCursor?: string }> {
    const bySymbol = range.symbol !== undefined;
    const partition = bySymbol ? accountSymbolKey(range.account, range.symbol!) : range.account;
    const partitionName = bySymbol ? 'accountSymbol' : 'account';
    const startKey =
      range.after === undefined
        ? undefined
        : bySymbol
          ? { accountSymbol: partition, account: range.account, sk: range.after }
          : { account: range.account, sk: range.after };
    const { Items = [] } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        ...(bySymbol ? { IndexName: HISTORY_INDEX } : {}),
        KeyConditionExpression: '#p = :p AND sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#p': partitionName },
        ExpressionAttributeValues: { ':p': partition, ':from': range.fromSk, ':to': range.toSk },
        ScanIndexForward: false,
        // One more than the page: whether another page exists is then known, not guessed.
        Limit: range.limit + 1,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const items = (Items as HistoryItem[]).slice(0, range.limit);
    const more = Items.length > range.limit;
    return { items, ...(more ? { nextCursor: encodeCursor(range, items[items.length - 1]!.sk) } : {}) };
  }
}
