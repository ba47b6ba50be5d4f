import { z } from 'zod';
import { OrderSchema } from '../../../shared/domain/order';

/** Limits are positive finite numbers; a partial update changes only the fields it names. */
const LimitValueSchema = z.number().positive().finite();
/** A floor may be 0 (no floor); a cap must be positive. */
const FloorValueSchema = z.number().nonnegative().finite();
export const RiskLimitsPatchSchema = z
  .object({
    maxOrderQuantity: LimitValueSchema.optional(),
    maxOrderNotional: LimitValueSchema.optional(),
    maxAbsPosition: LimitValueSchema.optional(),
    minPrice: FloorValueSchema.optional(),
    minOrderNotional: FloorValueSchema.optional(),
  })
  .strict();

/** A ledger command as it travels in a Raft entry's data (JSON). */
export const LedgerCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('order'), order: OrderSchema }).strict(),
  z.object({ type: z.literal('setLimits'), limits: RiskLimitsPatchSchema }).strict(),
  z.object({ type: z.literal('halt'), reason: z.string().max(500).optional() }).strict(),
  z.object({ type: z.literal('resume') }).strict(),
]);
export type LedgerCommand = z.infer<typeof LedgerCommandSchema>;

/** The entry data for a command: what the node proposes. */
export function encodeCommand(command: LedgerCommand): string {
  return JSON.stringify(command);
}
