import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  QueryCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { OrderEventSchema, type OrderEvent } from '../domain/event';
import {
  DAY_SECONDS,
  DEFAULT_HISTORY_RETENTION_DAYS,
  HISTORY_BY_ACCOUNT_INDEX,
  HISTORY_INDEX_PARTITION,
  ORDER_RECORD_MIN_DAYS,
  HISTORY_BY_SYMBOL_INDEX,
  type HistoryIndex,
  accountSymbolKey,
  encodeCursor,
  historyKeys,
  type HistoryRange,
} from '../domain/order-history';
import { sleep as defaultSleep } from '../util/wait';
import { backOffAfterConflict, transactWrite } from './transact-write';

/**
 * The execution record of each order in OrdersTable (key `id`, TTL `expiration`): written once, by a
 * conditional put, with the event execute publishes for it. The api reads it; verify counts it. It is the order
 * history too: a record carries its order's index keys (shared/domain/order-history.ts), and GET /orders queries
 * the table's ByAccount and BySymbol indexes (`list`) — one item per order, written in the batch's one transaction,
 * rather than a second item in a history table of its own (docs/performance.md measured the difference).
 *
 * Authority: the ledger decides (Raft, dedup by orderId, seq); this record is the durable, queryable copy of
 * that decision and the source of the published event. `attribute_not_exists(id)` makes the first record win,
 * so a redelivery after a crash republishes the stored event byte for byte instead of a new one. See
 * docs/architecture.md for the crash analysis.
 */
export const ORDER_RECORD_PREFIX = 'order#';
/** TransactWriteItems takes at most 100 items (a group batch is up to 10 messages of up to 50 commands). */
const ORDERS_PER_TRANSACTION = 100;

export interface OrderRecord {
  id: string;
  orderId: string;
  status: OrderEvent['status'];
  seq: number | null;
  event: OrderEvent;
  expiration: number;
}

/** The event that stands for an order; `stored` when it was recorded before (a redelivery), not by this call. */
export interface Recorded {
  event: OrderEvent;
  stored: boolean;
}

/** One page of an account's history, newest first; `nextCursor` only when more orders are in the range. */
export interface HistoryPage {
  events: (OrderEvent & { account: string })[];
  nextCursor?: string;
}

export interface OrderRecordsOptions {
  /** Days an order stays in the history, from its creation (never less than ORDER_RECORD_MIN_DAYS after its write). */
  retentionDays?: number;
  sleep?: (ms: number) => Promise<void>;
}

export const orderRecordKey = (orderId: string) => `${ORDER_RECORD_PREFIX}${orderId}`;

/**
 * The table these records live in, as CreateTable takes it: keyed by `id`, with the order history's two indexes
 * (CDK's default projection, ALL). For tables made on an emulator by tests and tools; the stack declares the same
 * keys in infra/constructs/order-execution.ts, and pipeline-stack.test.ts holds its template to them.
 */
export function orderRecordsTable(tableName: string): CreateTableCommandInput {
  const indexes: HistoryIndex[] = [HISTORY_BY_ACCOUNT_INDEX, HISTORY_BY_SYMBOL_INDEX];
  return {
    TableName: tableName,
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    AttributeDefinitions: ['id', ...indexes.map((i) => HISTORY_INDEX_PARTITION[i]), 'sk'].map((AttributeName) => ({
      AttributeName,
      AttributeType: 'S',
    })),
    GlobalSecondaryIndexes: indexes.map((IndexName) => ({
      IndexName,
      KeySchema: [
        { AttributeName: HISTORY_INDEX_PARTITION[IndexName], KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
    BillingMode: 'PAY_PER_REQUEST',
  };
}

/**
 * An order's record as a conditional put: its event, and its history index keys when the event names an account.
 * Kept for the history's retention from the order's creation, and at least ORDER_RECORD_MIN_DAYS from now.
 */
export function orderRecordPut(tableName: string, event: OrderEvent, now: number, retentionDays: number) {
  const expiration = Math.max(
    Math.floor(now / 1000) + ORDER_RECORD_MIN_DAYS * DAY_SECONDS,
    Math.floor(event.commandTs / 1000) + retentionDays * DAY_SECONDS,
  );
  return {
    TableName: tableName,
    Item: {
      id: orderRecordKey(event.orderId),
      orderId: event.orderId,
      status: event.status,
      seq: event.seq,
      event,
      expiration,
      ...historyKeys(event),
    },
    ConditionExpression: 'attribute_not_exists(id)',
  };
}

export class OrderRecords {
  private readonly retentionDays: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    { retentionDays = DEFAULT_HISTORY_RETENTION_DAYS, sleep = defaultSleep }: OrderRecordsOptions = {},
  ) {
    this.retentionDays = retentionDays;
    this.sleep = sleep;
  }

  /**
   * Records the events of one batch, each only if its order has no record yet, in one TransactWriteItems of
   * conditional puts per 100 orders (a second call only when some were recorded before: the transaction is cancelled
   * as a whole, so it is retried without them). Returns, per order id, the event that stands: the new one, or the stored one.
   */
  async record(events: readonly OrderEvent[], now = Date.now()): Promise<Map<string, Recorded>> {
    const standing = new Map<string, Recorded>();
    const unique = [...new Map(events.map((e) => [e.orderId, e])).values()];
    // The chunks at once: each record is its own conditional put, so no order between them matters, and a group
    // batch of 500 orders waited for five transactions one after another (docs/performance.md, session 29).
    const chunks: OrderEvent[][] = [];
    for (let start = 0; start < unique.length; start += ORDERS_PER_TRANSACTION)
      chunks.push(unique.slice(start, start + ORDERS_PER_TRANSACTION));
    for (const recorded of await Promise.all(chunks.map((chunk) => this.recordChunk(chunk, now))))
      for (const [orderId, record] of recorded) standing.set(orderId, record);
    return standing;
  }

  async read(orderId: string): Promise<OrderRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id: orderRecordKey(orderId) }, ConsistentRead: true }),
    );
    return Item ? toRecord(Item) : undefined;
  }

  /** One page of the history `range` names, newest first (the BySymbol index when it names a symbol). */
  async list(range: HistoryRange): Promise<HistoryPage> {
    const bySymbol = range.symbol !== undefined;
    const index = bySymbol ? HISTORY_BY_SYMBOL_INDEX : HISTORY_BY_ACCOUNT_INDEX;
    const partition = bySymbol ? accountSymbolKey(range.account, range.symbol!) : range.account;
    const partitionName = HISTORY_INDEX_PARTITION[index];
    // A GSI's ExclusiveStartKey is the last item's index keys and table key; `id` follows from the sort key's orderId.
    const startKey =
      range.after === undefined
        ? undefined
        : {
            [partitionName]: partition,
            sk: range.after,
            id: orderRecordKey(range.after.slice(range.after.indexOf('#') + 1)),
          };
    const { Items = [] } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: index,
        KeyConditionExpression: '#p = :p AND sk BETWEEN :from AND :to',
        ExpressionAttributeNames: { '#p': partitionName },
        ExpressionAttributeValues: { ':p': partition, ':from': range.fromSk, ':to': range.toSk },
        ScanIndexForward: false,
        // One more than the page: whether another page exists is then known, not guessed.
        Limit: range.limit + 1,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const page = Items.slice(0, range.limit);
    const events = page.map((item) => ({ ...toRecord(item).event, account: String(item.account) }));
    const more = Items.length > range.limit;
    return { events, ...(more ? { nextCursor: encodeCursor(range, String(page[page.length - 1]!.sk)) } : {}) };
  }

  private async recordChunk(chunk: OrderEvent[], now: number): Promise<Map<string, Recorded>> {
    const standing = new Map<string, Recorded>();
    let pending = chunk;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const reasons = await transactWrite(
        this.doc,
        pending.map((event) => ({ Put: orderRecordPut(this.tableName, event, now, this.retentionDays) })),
      );
      if (reasons === undefined) {
        for (const event of pending) standing.set(event.orderId, { event, stored: false });
        return standing;
      }
      if (reasons.length !== pending.length) throw new Error(`order records: cancelled, reasons ${reasons.join(', ')}`);
      const taken = pending.filter((_, i) => reasons[i] === 'ConditionalCheckFailed');
      for (const [orderId, event] of await this.readEvents(taken.map((e) => e.orderId)))
        standing.set(orderId, { event, stored: true });
      if (reasons.some((r) => r !== 'ConditionalCheckFailed' && r !== 'None'))
        await backOffAfterConflict(attempt, this.sleep, () => new Error(`order records: ${reasons.join(', ')}`));
      pending = pending.filter((e) => !standing.has(e.orderId));
    }
    return standing;
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
