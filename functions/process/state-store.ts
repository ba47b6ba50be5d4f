import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** One symbol's strategy state and the stream position it reflects (StrategyStateTable, key `symbol`). */
export interface StoredStrategyState {
  symbol: string;
  strategy: string;
  state: unknown;
  /** Sequence number of the last tick folded into `state`. */
  lastSequenceNumber: string;
  lastShardId: string;
  updatedAt: number;
}

/** Another writer advanced the state since we read it. */
export class StaleStateError extends Error {
  constructor(symbol: string) {
    super(`strategy state of ${symbol} changed since it was read`);
    this.name = 'StaleStateError';
  }
}

export class StrategyStateStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async load(symbol: string): Promise<StoredStrategyState | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.tableName, Key: { symbol }, ConsistentRead: true }),
    );
    return Item as StoredStrategyState | undefined;
  }

  /**
   * Writes the new state only if the stored one is still the one we read (same last sequence number, or none):
   * an optimistic lock, so two deliveries of the same ticks can never both advance the state.
   */
  async save(next: StoredStrategyState, expectedSequenceNumber: string | undefined): Promise<void> {
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: next,
          ...(expectedSequenceNumber === undefined
            ? {
                ConditionExpression: 'attribute_not_exists(#symbol)',
                ExpressionAttributeNames: { '#symbol': 'symbol' },
              }
            : {
                ConditionExpression: '#last = :expected',
                ExpressionAttributeNames: { '#last': 'lastSequenceNumber' },
                ExpressionAttributeValues: { ':expected': expectedSequenceNumber },
              }),
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new StaleStateError(next.symbol);
      throw error;
    }
  }
}
