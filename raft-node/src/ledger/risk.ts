import type { Order } from '../../../shared/domain/order';
import type { RiskLimits } from '../../../shared/ledger-contract';

/**
 * Loose enough that the demo feed's small orders always pass; documented in the README.
 */
export const DEFAULT_RISK_LIMITS: Readonly<RiskLimits> = Object.freeze({
  maxOrderQuantity: 10_000,
  maxOrderNotional: 10_000_000,
  maxAbsPosition: 1_000_000,
  minPrice: 0.01,
  minOrderNotional: 1,
});

export interface RiskContext {
  limits: RiskLimits;
  halted: boolean;
  haltReason: string | null;
  /** The account's current position in the order's symbol. */
  position: number;
}

/** Signed change an order makes to its account's position: BUY adds, SELL subtracts. */
export function positionDelta(order: Pick<Order, 'side' | 'quantity'>): number {
  return order.side === 'BUY' ? order.quantity : -order.quantity;
}

/**
 * Pre-trade checks, in order: halt switch, price and notional floors, quantity, notional, position after the fill.
 * Returns why it is rejected.
 */
export function checkRisk(order: Order, context: RiskContext): string | undefined {
  const { limits } = context;
  if (context.halted) {
    return context.haltReason ? `trading is halted: ${context.haltReason}` : 'trading is halted';
  }
  if (order.price < limits.minPrice) {
    return `price ${order.price} is below the minimum price of ${limits.minPrice}`;
  }
  if (order.quantity * order.price < limits.minOrderNotional) {
    return `notional ${order.quantity * order.price} is below the per-order minimum of ${limits.minOrderNotional}`;
  }
  if (order.quantity > limits.maxOrderQuantity) {
    return `quantity ${order.quantity} exceeds the per-order limit of ${limits.maxOrderQuantity}`;
  }
  const notional = order.quantity * order.price;
  if (notional > limits.maxOrderNotional) {
    return `notional ${notional} exceeds the per-order limit of ${limits.maxOrderNotional}`;
  }
  const after = context.position + positionDelta(order);
  if (Math.abs(after) > limits.maxAbsPosition) {
    return `position ${after} in ${order.symbol} after the fill would exceed the limit of ±${limits.maxAbsPosition}`;
  }
  return undefined;
}
