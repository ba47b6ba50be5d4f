import { z } from 'zod';
import { CancelRequestSchema, describeZodError, isValidOrder, OrderSchema } from '../../../shared/domain/order';
import { RiskLimitsPatchSchema } from '../../../shared/ledger-contract';

export { RiskLimitsPatchSchema };

/** The leader's wall clock (ms) when it proposed the entry: what the orders' results keep as their executedTs. */
const ProposedAtSchema = z.number().int().nonnegative().optional();

/**
 * A ledger command as it travels in a Raft entry's data (JSON). `orderBatch` applies its orders in one entry,
 * in order. Its size limit (MAX_BATCH_ORDERS) is checked where batches come in, not here: a committed entry must
 * apply the same way on every version, so lowering the limit later must not turn old entries into errors. `ts` is
 * stamped by the proposing leader (the state machine has no clock; the entry carries its time, so every replica
 * applies the same one); entries from before it lack it, and their results have no executedTs.
 */
export const LedgerCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('order'), order: OrderSchema, ts: ProposedAtSchema }).strict(),
  z.object({ type: z.literal('orderBatch'), orders: z.array(OrderSchema).min(1), ts: ProposedAtSchema }).strict(),
  z.object({ type: z.literal('setLimits'), limits: RiskLimitsPatchSchema }).strict(),
  z.object({ type: z.literal('halt'), reason: z.string().max(500).optional() }).strict(),
  z.object({ type: z.literal('resume') }).strict(),
  CancelRequestSchema.extend({ type: z.literal('cancel') }).strict(),
]);
export type LedgerCommand = z.infer<typeof LedgerCommandSchema>;

/** The entry data for a command: what the node proposes. */
export function encodeCommand(command: LedgerCommand): string {
  return JSON.stringify(command);
}

/**
 * Entry data → command, or why it is malformed. Every node does this for every entry it applies, so the two
 * commands of the hot path (`order`, `orderBatch`) are judged by isValidOrder (exactly OrderSchema's verdict,
 * without zod's result objects); anything else, and any refusal (for its message), goes through the schema, which
 * stays the one definition of a valid command.
 */
export function decodeCommand(data: string): LedgerCommand | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { error: 'malformed command: entry data is not JSON' };
  }
  if (isOrderCommand(json)) return json;
  const parsed = LedgerCommandSchema.safeParse(json);
  return parsed.success ? parsed.data : { error: `malformed command: ${describeZodError(parsed.error)}` };
}

function isOrderCommand(v: unknown): v is Extract<LedgerCommand, { type: 'order' | 'orderBatch' }> {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  // `ts` is optional: 2 keys without it, 3 with it (and then a valid one).
  const keys = Object.keys(c).length - (c.ts === undefined ? 0 : 1);
  if (c.ts !== undefined && !(Number.isSafeInteger(c.ts) && (c.ts as number) >= 0)) return false;
  if (c.type === 'order') return keys === 2 && isValidOrder(c.order);
  if (c.type !== 'orderBatch' || keys !== 2 || !Array.isArray(c.orders) || c.orders.length === 0) return false;
  return c.orders.every(isValidOrder);
}
