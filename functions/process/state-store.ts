import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient, type PutCommandInput } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { OrderCommandSchema } from '../../shared/domain/command';
import { describeZodError } from '../../shared/domain/order';
import { transactWrite } from '../../shared/aws/transact-write';
import { parseJson } from '../../shared/util/json';

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

/**
 * The item as stored: the key, the condition's attribute and what others read (`lastPrice`, by POST /orders) at the
 * top; `state`, `recentTickIds` and `outbox` as one JSON string (`packed`). Not as maps and lists: DynamoDB Local
 * parses and sizes every attribute value of a request, and with 256 recent tick ids and an outbox of commands an item
 * was some 300–600 of them; nothing queries inside them. Its effect on the whole stack's CPU was within the bench's
 * noise (docs/performance.md, session 30). Items written before (the three as attributes of their own) are still read.
 */
const PACKED = ['state', 'recentTickIds', 'outbox'] as const;

function toItem(state: StoredStrategyState): Record<string, unknown> {
  const { state: inner, recentTickIds, outbox, ...top } = state;
  return { ...top, packed: JSON.stringify({ state: inner, recentTickIds, outbox }) };
}

function fromItem(item: Record<string, unknown>): unknown {
  if (typeof item.packed !== 'string') return item;
  const { packed, ...top } = item;
  const unpacked = parseJson(packed);
  if (unpacked === undefined)
    throw new Error(`strategy state of ${String(item.symbol)} is malformed: its packed attribute is not JSON`);
  const fields = (unpacked ?? {}) as Record<string, unknown>;
  return { ...top, ...Object.fromEntries(PACKED.map((k) => [k, fields[k]])) };
}

/** Another writer advanced the state since we read it. */
export class StaleStateError extends Error {
  constructor(symbol: string) {
    super(`strategy state of ${symbol} changed since it was read`);
    this.name = 'StaleStateError';
  }
}

/** A state to write, conditional on the stored one's last sequence number (undefined: no stored state). */
export interface StateWrite {
  next: StoredStrategyState;
  expectedSequenceNumber: string | undefined;
}

/**
 * Symbols per TransactWriteItems in saveAll. DynamoDB takes 100 items and 4 MB per transaction; a state item with
 * a full outbox (100 commands) and 256 recent tick ids is some 40 KB, so 25 stay far below the size limit.
 */
const STATES_PER_TRANSACTION = 25;

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
    const parsed = StoredStrategyStateSchema.safeParse(fromItem(Item));
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
      await this.documents.send(new PutCommand(this.conditionalPut({ next, expectedSequenceNumber })));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new StaleStateError(next.symbol);
      throw error;
    }
  }

  /**
   * The same conditional writes for several symbols (each at most once), STATES_PER_TRANSACTION to a
   * TransactWriteItems instead of one PutItem each: the process function writes every symbol of a Kinesis batch
   * at once, and on DynamoDB Local a 10-item transaction costs about a third of ten PutItems' CPU (and one SDK call
   * instead of ten; docs/performance.md). A transaction is all or nothing: when a symbol's condition fails
   * (another writer advanced it) nothing of that transaction is written, and the symbols returned as `stale` must be
   * re-read; the others of a cancelled transaction are returned in `unwritten`, to be written again. Any other
   * failure throws; transactions before it may have been written (each symbol's write is still all or nothing).
   */
  async saveAll(writes: readonly StateWrite[]): Promise<{ stale: Set<string>; unwritten: Set<string> }> {
    const stale = new Set<string>();
    const unwritten = new Set<string>();
    for (let start = 0; start < writes.length; start += STATES_PER_TRANSACTION) {
      const chunk = writes.slice(start, start + STATES_PER_TRANSACTION);
      const reasons = await transactWrite(
        this.documents,
        chunk.map((w) => ({ Put: this.conditionalPut(w) })),
      );
      if (!reasons) continue;
      // Cancelled for another reason (a conflicting transaction, throttling): a retry of the batch may pass.
      if (!reasons.includes('ConditionalCheckFailed'))
        throw new Error(`the strategy states' transaction was cancelled (${reasons.join(', ')}); a retry may pass`);
      chunk.forEach((w, i) => (reasons[i] === 'ConditionalCheckFailed' ? stale : unwritten).add(w.next.symbol));
    }
    return { stale, unwritten };
  }

  private conditionalPut({ next, expectedSequenceNumber }: StateWrite): PutCommandInput {
    if (expectedSequenceNumber === undefined) {
      return {
        TableName: this.tableName,
        Item: toItem(next),
        ConditionExpression: 'attribute_not_exists(#symbol)',
        ExpressionAttributeNames: { '#symbol': 'symbol' },
      };
    }
    return {
      TableName: this.tableName,
      Item: toItem(next),
      ConditionExpression: '#last = :expected',
      ExpressionAttributeNames: { '#last': 'lastSequenceNumber' },
      ExpressionAttributeValues: { ':expected': expectedSequenceNumber },
    };
  }
}
