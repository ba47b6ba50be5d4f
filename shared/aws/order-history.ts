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

/**
 * OrderHistoryTable (shared/domain/order-history.ts has the key design and the status rules): the history writer
 * puts, the api queries. One home for both, so the key layout lives in one place.
 */
export class OrderHistoryStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  /**
   * Writes the item unless the stored one stands: a higher status rank, or the same non-final rank and not older,
   * or a final status. 'unchanged' (a redelivery, an out-of-order event) is as good as written for the caller.
   */
  async write(item: HistoryItem): Promise<'written' | 'unchanged'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression:
            'attribute_not_exists(sk) OR statusRank < :rank OR ' +
            '(statusRank = :rank AND :rank < :final AND updatedTs < :ts)',
          ExpressionAttributeValues: { ':rank': item.statusRank, ':final': FINAL_RANK, ':ts': item.updatedTs },
        }),
      );
      return 'written';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'unchanged';
      throw error;
    }
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
