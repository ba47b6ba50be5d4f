import * as z from 'zod';
import { OrderSchema } from './order';
import { CorrelationIdSchema, TimestampMsSchema } from './tick';
import { packMessages, type PackedMessage } from '../util/packing';

/** What process sends to the commands queue and execute consumes: the order plus its timing and correlation id. */
export const OrderCommandSchema = z
  .object({
    order: OrderSchema,
    tickTs: TimestampMsSchema,
    commandTs: TimestampMsSchema,
    correlationId: CorrelationIdSchema,
  })
  .strict();
export type OrderCommand = z.infer<typeof OrderCommandSchema>;

/** The SQS message attribute carrying the correlation id (also inside the body, which is what execute trusts). */
export const CORRELATION_ID_ATTRIBUTE = 'correlationId';

/**
 * Most commands one commands-queue message carries. Execute applies a group's receive (at most ten messages) as one
 * ledger batch, so ten messages of this many stay within the ledger's MAX_BATCH_ORDERS (500). One command per message
 * capped a symbol at ten orders per round trip of receive, apply, record and publish (docs/performance.md, session
 * 29).
 */
export const MAX_COMMANDS_PER_MESSAGE = 50;
/** Bytes of commands in one message at most: ten such messages stay under SQS's 256 KiB per SendMessageBatch. */
export const MAX_COMMANDS_MESSAGE_BYTES = 24 * 1024;

/**
 * Packs commands into commands-queue messages (`{"commands": [...]}`): each symbol's in their order, group = the
 * symbol, deduplication id = the order id for a message of one and a digest of the order ids for more (packMessages).
 * The ledger dedups every order by its id whatever the packing, so a resend packed otherwise executes nothing twice.
 */
export function commandMessages(commands: readonly OrderCommand[]): PackedMessage[] {
  return packMessages(commands, {
    field: 'commands',
    groupOf: (c) => c.order.symbol,
    keyOf: (c) => c.order.orderId,
    maxCount: MAX_COMMANDS_PER_MESSAGE,
    maxBytes: MAX_COMMANDS_MESSAGE_BYTES,
  });
}
