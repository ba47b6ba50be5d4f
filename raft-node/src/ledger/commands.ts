import { z } from 'zod';
import { OrderSchema } from '../../../shared/domain/order';
import { RiskLimitsPatchSchema } from '../../../shared/ledger-contract';

export { RiskLimitsPatchSchema };

/**
 * A ledger command as it travels in a Raft entry's data (JSON). `orderBatch` applies its orders in one entry,
 * in order. Its size limit (MAX_BATCH_ORDERS) is checked where batches come in, not here: a committed entry must
 * apply the same way on every version, so lowering the limit later must not turn old entries into errors.
 */
export const LedgerCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('order'), order: OrderSchema }).strict(),
  z.object({ type: z.literal('orderBatch'), orders: z.array(OrderSchema).min(1) }).strict(),
  z.object({ type: z.literal('setLimits'), limits: RiskLimitsPatchSchema }).strict(),
  z.object({ type: z.literal('halt'), reason: z.string().max(500).optional() }).strict(),
  z.object({ type: z.literal('resume') }).strict(),
]);
export type LedgerCommand = z.infer<typeof LedgerCommandSchema>;

/** The entry data for a command: what the node proposes. */
export function encodeCommand(command: LedgerCommand): string {
  return JSON.stringify(command);
}
