import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  TransactWriteCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { OrderEventSchema, type OrderEvent } from '../domain/event';
import { sleep as defaultSleep } from '../util/wait';

/**
 * The execution record of each order in OrdersTable (key `id`, TTL `expiration`): written once, by a
 * conditional put, with the event execute publishes for it. The api reads it; verify counts it.
 *
 * Authority: the ledger decides (Raft, dedup by orderId, seq); this record is the durable, queryable copy of
 * that decision and the source of the published event. `attribute_not_exists(id)` makes the first record win,
 * so a redelivery after a crash republishes the stored event byte for byte instead of a new one. See
 * docs/architecture.md for the crash analysis.
 */
export const ORDER_RECORD_PREFIX = 'order#';
/** A record outlives any redelivery of its command (SQS keeps a message ≤ 14 days); past it the ledger answers. */
export const ORDER_RECORD_TTL_SECONDS = 14 * 24 * 60 * 60;
/** TransactWriteItems takes at most 100 items; a FIFO receive brings at most 10 messages of a group. */
const TRANSACTION_LIMIT = 100;
const CONFLICT_ATTEMPTS = 5;

export interface OrderRecord {
  id: string;
  orderId: string;
  status: OrderEvent['status'];
  seq: number | null;
  event: OrderEvent;
  expiration: number;
}

export const orderRecordKey = (orderId: string) => `${ORDER_RECORD_PREFIX}${orderId}`;

export class OrderRecords {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {}

  /**
   * Records the events of one batch, each only if its order has no record yet, in one TransactWriteItems
   * (a second call only when some were recorded before: the transaction is cancelled as a whole, so it is
   * retried without them). Returns, per order id, the event that stands: the new one, or the stored one.
   */
  async record(events: readonly OrderEvent[], now = Date.now()): Promise<Map<string, OrderEvent>> {
    const standing = new Map<string, OrderEvent>();
    const unique = [...new Map(events.map((e) => [e.orderId, e])).values()];
    for (let start = 0; start < unique.length; start += TRANSACTION_LIMIT) {
      const chunk = unique.slice(start, start + TRANSACTION_LIMIT);
      for (const [orderId, event] of await this.recordChunk(chunk, now)) standing.set(orderId, event);
    }
    return standing;
  }

  async read(orderId: string): Promise<OrderRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id: orderRecordKey(orderId) }, ConsistentRead: true }),
    );
    return Item ? toRecord(Item) : undefined;
  }

  private async recordChunk(events: OrderEvent[], now: number): Promise<Map<string, OrderEvent>> {
    const standing = new Map<string, OrderEvent>();
    let pending = events;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const outcome = await this.tryTransaction(pending, now);
      if (outcome === 'written') {
        for (const e of pending) standing.set(e.orderId, e);
        return standing;
      }
      const taken = pending.filter((_, i) => outcome.reasons[i] === 'ConditionalCheckFailed');
      for (const [orderId, event] of await this.readEvents(taken.map((e) => e.orderId))) standing.set(orderId, event);
      const others = outcome.reasons.some((r) => r !== 'ConditionalCheckFailed' && r !== 'None');
      if (others && attempt >= CONFLICT_ATTEMPTS) throw new Error(`order records: ${outcome.reasons.join(', ')}`);
      if (others) await this.sleep(20 * 2 ** attempt + Math.random() * 20);
      pending = pending.filter((e) => !standing.has(e.orderId));
    }
    return standing;
  }

  /** One TransactWriteItems; on cancellation, each item's reason code ('None' for items that were fine). */
  private async tryTransaction(events: OrderEvent[], now: number): Promise<'written' | { reasons: string[] }> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: events.map((event) => ({
            Put: {
              TableName: this.tableName,
              Item: {
                id: orderRecordKey(event.orderId),
                orderId: event.orderId,
                status: event.status,
                seq: event.seq,
                event,
                expiration: Math.floor(now / 1000) + ORDER_RECORD_TTL_SECONDS,
              },
              ConditionExpression: 'attribute_not_exists(id)',
            },
          })),
        }),
      );
      return 'written';
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      return { reasons: (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None') };
    }
  }

  private async readEvents(orderIds: string[]): Promise<Map<string, OrderEvent>> {
    const found = new Map<string, OrderEvent>();
    if (orderIds.length === 0) return found;
    let keys: Record<string, unknown>[] | undefined = orderIds.map((id) => ({ id: orderRecordKey(id) }));
    while (keys && keys.length > 0) {
      const out: BatchGetCommandOutput = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[this.tableName] ?? []) {
        const record = toRecord(item);
        found.set(record.orderId, record.event);
      }
      keys = out.UnprocessedKeys?.[this.tableName]?.Keys;
    }
    return found;
  }
}

function toRecord(item: Record<string, unknown>): OrderRecord {
  return {
    id: String(item.id),
    orderId: String(item.orderId),
    status: item.status as OrderRecord['status'],
    seq: (item.seq as number | null | undefined) ?? null,
    event: OrderEventSchema.parse(item.event),
    expiration: Number(item.expiration),
  };
}
