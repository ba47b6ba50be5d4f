import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { OrderCommandSchema } from '../../shared/domain/command';
import { describeZodError } from '../../shared/domain/order';

/** One symbol's strategy state and the stream position it reflects (StrategyStateTable, key `symbol`). */
const StoredStrategyStateSchema = z.object({
  symbol: z.string(),
  strategy: z.string(),
  state: z.unknown(),
  /** Sequence number of the last tick folded into `state`. */
  lastSequenceNumber: z.string().regex(/^\d+$/),
  lastShardId: z.string(),
  /** The latest tickIds folded into `state` (RecentTickIds), so a tick ingested twice is applied once. */
  recentTickIds: z.array(z.string()).default([]),
  /**
   * The commands this write produced, sent only after the write succeeded (a transactional outbox): whoever
   * reads this item from the table — a new container, or one whose cached copy proved stale — resends them,
   * since the writer may have died before sending. Resending is harmless: each command's dedup id is its orderId.
   */
  outbox: z.array(OrderCommandSchema).default([]),
  /** The price of the last tick folded in: the reference price of orders entered through POST /orders. */
  lastPrice: z.number().positive().optional(),
  updatedAt: z.number(),
});
export type StoredStrategyState = z.infer<typeof StoredStrategyStateSchema>;

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
    if (Item === undefined) return undefined;
    const parsed = StoredStrategyStateSchema.safeParse(Item);
    if (!parsed.success) {
      throw new Error(`strategy state of ${symbol} is malformed: ${describeZodError(parsed.error)}`);
    }
    return parsed.data;
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
