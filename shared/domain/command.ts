import * as z from 'zod';
import { OrderSchema } from './order';
import { CorrelationIdSchema, TimestampMsSchema } from './tick';

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
