import { IdempotencyConfig, IdempotencyItemNotFoundError } from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';
import type { ResponseHook } from '@aws-lambda-powertools/idempotency/types';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Execute's claims on order ids, kept by Powertools idempotency in OrdersTable (key `id`, TTL `expiration`,
 * Powertools' default attribute names). The key is the order id alone (prefixed), so every delivery of the
 * same order — from a redelivered message, a replayed batch or a resend after a crash — meets the same claim.
 * The api function reads the same records, which is why the layout lives here.
 */
export const ORDER_CLAIM_KEY_PREFIX = 'order';
export const ORDER_CLAIM_KEY_PATH = 'order.orderId';

/**
 * How long a completed claim (and its stored result) is kept. It outlives any redelivery of the command:
 * SQS keeps a message at most 14 days, but a command is redelivered within minutes (visibility timeout) and
 * reaches the DLQ after a few receives. Past it the ledger itself still answers a repeat with the original result.
 */
export const ORDER_CLAIM_TTL_SECONDS = 7 * 24 * 60 * 60;

export function createOrderClaimStore(tableName: string, client: DynamoDBClient): DynamoDBPersistenceLayer {
  return new DynamoDBPersistenceLayer({ tableName, awsSdkV3Client: client, keyAttr: 'id', expiryAttr: 'expiration' });
}

/** The idempotency config execute runs with: also checks that a repeat carries the same order, not just its id. */
export function createOrderClaimConfig(responseHook?: ResponseHook): IdempotencyConfig {
  return new IdempotencyConfig({
    eventKeyJmesPath: ORDER_CLAIM_KEY_PATH,
    payloadValidationJmesPath: 'order',
    throwOnNoIdempotencyKey: true,
    expiresAfterSeconds: ORDER_CLAIM_TTL_SECONDS,
    ...(responseHook ? { responseHook } : {}),
  });
}

export type OrderClaim = { status: 'INPROGRESS' | 'COMPLETED' | 'EXPIRED'; result: unknown };

/** Reads the claim execute holds on an order id (for the api); undefined when there is none. */
export async function readOrderClaim(
  store: DynamoDBPersistenceLayer,
  orderId: string,
): Promise<OrderClaim | undefined> {
  store.configure({
    config: new IdempotencyConfig({
      eventKeyJmesPath: ORDER_CLAIM_KEY_PATH,
      expiresAfterSeconds: ORDER_CLAIM_TTL_SECONDS,
    }),
    keyPrefix: ORDER_CLAIM_KEY_PREFIX,
  });
  try {
    const record = await store.getRecord({ order: { orderId } });
    return { status: record.getStatus(), result: record.getResponse() ?? null };
  } catch (error) {
    if (error instanceof IdempotencyItemNotFoundError) return undefined;
    throw error;
  }
}
