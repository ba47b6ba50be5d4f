import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { OrderCommandSchema } from '../domain/command';
import { AccountSchema, OrderIdSchema } from '../domain/order';
import { DAY_SECONDS, ORDER_RECORD_MIN_DAYS } from '../domain/order-history';
import { EnteredRequestSchema } from '../domain/user-order';

/**
 * The entry records of POST /orders in OrdersTable (key `id` = `client-order#<orderId>`, TTL `expiration`): what a
 * client asked for under its clientOrderId, written once by a conditional put, so a repeated request finds the first
 * one and answers the same (or 409 when its content differs). DELETE /orders/{orderId} finds the order's owner here.
 * Why a conditional put rather than Powertools idempotency: docs/architecture.md, "Order entry".
 */
export const CLIENT_ORDER_PREFIX = 'client-order#';
const RATE_PREFIX = 'rate#';

const ClientOrderRecordSchema = z.object({
  id: z.string(),
  orderId: OrderIdSchema,
  account: AccountSchema,
  clientOrderId: z.string(),
  request: EnteredRequestSchema,
  /** PENDING: sent to the commands queue (the ledger decides); EXPIRED: an IOC limit that could not execute. */
  status: z.enum(['PENDING', 'EXPIRED']),
  reason: z.string().optional(),
  command: OrderCommandSchema.optional(),
  createdAt: z.number(),
  expiration: z.number(),
});
export type ClientOrderRecord = z.infer<typeof ClientOrderRecordSchema>;
export type NewClientOrder = Omit<ClientOrderRecord, 'id' | 'expiration'>;

export class ClientOrders {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(orderId: string): Promise<ClientOrderRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { id: CLIENT_ORDER_PREFIX + orderId }, ConsistentRead: true }),
    );
    return Item ? ClientOrderRecordSchema.parse(Item) : undefined;
  }

  /** Writes the record unless one exists for the order id; returns the one that stands. */
  async create(order: NewClientOrder): Promise<{ created: boolean; record: ClientOrderRecord }> {
    const record: ClientOrderRecord = {
      ...order,
      id: CLIENT_ORDER_PREFIX + order.orderId,
      expiration: Math.floor(order.createdAt / 1000) + ORDER_RECORD_MIN_DAYS * DAY_SECONDS,
    };
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.tableName, Item: record, ConditionExpression: 'attribute_not_exists(id)' }),
      );
      return { created: true, record };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const standing = await this.read(order.orderId);
      if (!standing) throw new Error(`client order ${order.orderId}: the record vanished after a conditional failure`);
      return { created: false, record: standing };
    }
  }
}

/**
 * Per-account order rate limit: a counter per account per second in OrdersTable, raised by one conditional
 * UpdateItem (one round trip) that fails once the second's count reached the limit. A fixed window rather than a
 * token bucket: the bucket needs a read-modify-write of (tokens, time) — the same single conditional update, but with
 * arithmetic DynamoDB's update expressions cannot do on a time difference.
 */
export class AccountRateLimiter {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one order for `account`; refused (with when to retry) past the limit. */
  async take(account: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }> {
    const second = Math.floor(this.now() / 1000);
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: `${RATE_PREFIX}${account}#${second}` },
          UpdateExpression: 'ADD #n :one SET expiration = :expiration',
          ConditionExpression: 'attribute_not_exists(#n) OR #n < :limit',
          ExpressionAttributeNames: { '#n': 'orders' },
          ExpressionAttributeValues: { ':one': 1, ':limit': this.perSecond, ':expiration': second + 120 },
        }),
      );
      return { ok: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { ok: false, retryAfterSeconds: 1 };
    }
  }
}

/** The last traded price of a symbol as process last saw it (StrategyStateTable's `lastPrice`), or undefined. */
export class LastPrices {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async lastPrice(symbol: string): Promise<number | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { symbol },
        ProjectionExpression: 'lastPrice',
        ConsistentRead: true,
      }),
    );
    return typeof Item?.lastPrice === 'number' ? Item.lastPrice : undefined;
  }
}
