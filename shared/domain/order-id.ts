import { OrderIdSchema, SymbolSchema } from './order';
import { TickIdSchema } from './tick';

/**
 * An order's id is a function of its tick's identity (symbol and tickId) and its index among the orders that
 * tick produced, so a replayed batch — or the same tick ingested twice, as a new stream record — yields the very
 * same ids, and every duplicate downstream (SQS FIFO deduplication, execute's conditional order record, the
 * ledger) recognises it. A symbol has no ':' and the index is digits, so the id splits back unambiguously; '/'
 * (allowed in symbols, not in order ids) becomes '_' (not allowed in symbols), which keeps the map injective.
 */
export function deriveOrderId(symbol: string, tickId: string, index: number): string {
  if (!SymbolSchema.safeParse(symbol).success) throw new Error(`symbol "${symbol}" is not a valid symbol`);
  if (!TickIdSchema.safeParse(tickId).success) throw new Error(`tickId "${tickId}" is not a valid tickId`);
  if (!Number.isInteger(index) || index < 0) throw new Error(`order index ${index} is not a non-negative integer`);
  return OrderIdSchema.parse(`${symbol.replaceAll('/', '_')}:${tickId}:${index}`);
}

/** Kinesis sequence numbers are decimal strings too long for a double; compare them exactly. */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
