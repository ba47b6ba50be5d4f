import {
  BatchGetCommand,
  GetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { OrderEventSchema, type OrderEvent } from '../domain/event';
import { sleep as defaultSleep } from '../util/wait';
import { backOffAfterConflict, transactWrite, type TransactPut } from './transact-write';

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
/**
 * TransactWriteItems takes at most 100 items: 50 orders with a companion put each (a FIFO receive brings at most 10
 * messages of a group).
 */
const ORDERS_PER_TRANSACTION = 50;

export interface OrderRecord {
  id: string;
  orderId: string;
  status: OrderEvent['status'];
  seq: number | null;
  event: OrderEvent;
  expiration: number;
}

/**
 * Another table's put that must land with an order's record, in the same transaction (execute: the order's history
 * item). Its condition failing means what stands there wins: the record is written without it.
 */
export type Companion = (event: OrderEvent) => TransactPut | undefined;

/** The event that stands for an order; `stored` when it was recorded before (a redelivery), not by this call. */
export interface Recorded {
  event: OrderEvent;
  stored: boolean;
}

interface Pending {
  event: OrderEvent;
  companion?: TransactPut;
}

export const orderRecordKey = (orderId: string) => `${ORDER_RECORD_PREFIX}${orderId}`;

export class OrderRecords {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {}

  /**
   * Records the events of one batch, each only if its order has no record yet, in one TransactWriteItems with each
   * new record's companion put (a second call only when some were recorded before: the transaction is cancelled as
   * a whole, so it is retried without them and their companions). Returns, per order id, the event that stands: the
   * new one, or the stored one.
   */
  async record(events: readonly OrderEvent[], now = Date.now(), companion?: Companion): Promise<Map<string, Recorded>> {
    const standing = new Map<string, Recorded>();
    const unique = [...new Map(events.map((e) => [e.orderId, e])).values()];
    for (let start = 0; start < unique.length; start += ORDERS_PER_TRANSACTION) {
      const chunk = unique.slice(start, start + ORDERS_PER_TRANSACTION).map((event) => ({
        event,
        companion: companion?.(event),
      }));
      for (const [orderId, recorded] of await this.recordChunk(chunk, now)) standing.set(orderId, recorded);
    }
    return standing;
  }

  async read(orderId: string): Promise<OrderRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id: orderRecordKey(orderId) }, ConsistentRead: true }),
    );
    return Item ? toRecord(Item) : undefined;
  }

  private async recordChunk(chunk: Pending[], now: number): Promise<Map<string, Recorded>> {
    const standing = new Map<string, Recorded>();
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const reasons = await this.tryTransaction(pending, now);
      if (reasons === undefined) {
        for (const { event } of pending) standing.set(event.orderId, { event, stored: false });
        return standing;
      }
      const taken = pending.filter((_, i) => reasons[i]!.record === 'ConditionalCheckFailed');
      for (const [orderId, event] of await this.readEvents(taken.map((p) => p.event.orderId)))
        standing.set(orderId, { event, stored: true });
      const others = reasons.some((r) =>
        [r.record, r.companion].some((c) => c !== 'ConditionalCheckFailed' && c !== 'None'),
      );
      if (others)
        await backOffAfterConflict(attempt, this.sleep, () => new Error(`order records: ${JSON.stringify(reasons)}`));
      // A companion whose condition failed stands as it is: its record goes again without it.
      pending = pending.flatMap((p, i) => {
        if (standing.has(p.event.orderId)) return [];
        return [reasons[i]!.companion === 'ConditionalCheckFailed' ? { event: p.event } : p];
      });
    }
    return standing;
  }

  /**
   * One TransactWriteItems: each order's record, then its companion when it has one. On cancellation, each order's
   * reason codes ('None' for an item that was fine); a cancellation without one reason per item is thrown.
   */
  private async tryTransaction(
    pending: Pending[],
    now: number,
  ): Promise<undefined | { record: string; companion: string }[]> {
    const items = pending.flatMap(({ event, companion }) => [
      {
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
      },
      ...(companion ? [{ Put: companion }] : []),
    ]);
    const codes = await transactWrite(this.doc, items);
    if (codes === undefined) return undefined;
    if (codes.length !== items.length) throw new Error(`order records: cancelled, reasons ${codes.join(', ')}`);
    let at = 0;
    return pending.map(({ companion }) => ({ record: codes[at++]!, companion: companion ? codes[at++]! : 'None' }));
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
