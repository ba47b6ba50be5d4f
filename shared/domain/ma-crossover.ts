import * as z from 'zod';
import type { Strategy, StrategyParams, StrategyStep } from './strategy';
import type { Tick } from './tick';

const MaStateSchema = z
  .object({
    /** The last `slowWindow` prices, oldest first. */
    prices: z.array(z.number().positive()),
    /** Whether the fast average was last seen above or below the slow one; null until both are defined. */
    relation: z.enum(['ABOVE', 'BELOW']).nullable(),
  })
  .strict();
export type MaCrossoverState = z.infer<typeof MaStateSchema>;

function average(values: readonly number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

/**
 * Moving-average crossover: BUY when the fast average crosses above the slow one, SELL when it crosses below.
 * The first time both averages exist only establishes the relation; an equal reading keeps the previous one,
 * so a flat market never flips the signal back and forth.
 */
export function movingAverageCrossover(params: StrategyParams): Strategy<MaCrossoverState> {
  const { fastWindow, slowWindow, orderQuantity } = params;
  return {
    name: 'ma-crossover',
    stateSchema: MaStateSchema,
    initialState: () => ({ prices: [], relation: null }),
    onTick(state: MaCrossoverState, tick: Tick): StrategyStep<MaCrossoverState> {
      const prices = [...state.prices, tick.price].slice(-slowWindow);
      if (prices.length < slowWindow) return { state: { prices, relation: state.relation }, orders: [] };
      const fast = average(prices.slice(-fastWindow));
      const slow = average(prices);
      const relation = fast > slow ? 'ABOVE' : fast < slow ? 'BELOW' : state.relation;
      const crossed = state.relation !== null && relation !== state.relation;
      const orders = crossed
        ? [
            {
              side: relation === 'ABOVE' ? ('BUY' as const) : ('SELL' as const),
              quantity: orderQuantity,
              price: tick.price,
            },
          ]
        : [];
      return { state: { prices, relation }, orders };
    },
  };
}
