import * as z from 'zod';
import { AccountSchema, OrderIdSchema, SideSchema, SymbolSchema } from './order';
import { CorrelationIdSchema, TimestampMsSchema } from './tick';

/** What execute publishes to the events topic, once per order (MessageDeduplicationId = orderId). */
export const OrderEventSchema = z
  .object({
    orderId: OrderIdSchema,
    /** The ledger's status (ACCEPTED = executed; CANCELED: a cancel reached the ledger before the order). */
    status: z.enum(['ACCEPTED', 'REJECTED', 'CANCELED']),
    /** The ledger's sequence number; null for a rejected order. */
    seq: z.number().int().positive().nullable(),
    /** Why the ledger rejected it; null for an accepted order. */
    reason: z.string().nullable(),
    /**
     * The order's account (what the history is kept by). Always set by execute; optional only because events
     * recorded in OrdersTable before it was added are republished as they were stored.
     */
    account: AccountSchema.optional(),
    symbol: SymbolSchema,
    side: SideSchema,
    quantity: z.number().int().positive(),
    price: z.number().positive(),
    /** The account's position in the symbol after the order. */
    position: z.number(),
    tickTs: TimestampMsSchema,
    commandTs: TimestampMsSchema,
    executedTs: TimestampMsSchema,
    correlationId: CorrelationIdSchema,
  })
  .strict();
export type OrderEvent = z.infer<typeof OrderEventSchema>;
