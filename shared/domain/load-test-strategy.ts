import * as z from 'zod';
import type { Strategy, StrategyParams, StrategyStep } from './strategy';
import type { Tick } from './tick';

const LoadTestStateSchema = z.object({ nextSide: z.enum(['BUY', 'SELL']) }).strict();
export type LoadTestState = z.infer<typeof LoadTestStateSchema>;

export const LOAD_TEST_STRATEGY = 'load-test-every-tick';

/**
 * A load-test strategy, not a trading one: one order per tick, alternating BUY and SELL of `orderQuantity`
 * at the tick's price, so the position of each symbol stays within one order of flat and the risk limits
 * accept every order. It lets a benchmark drive execute and the ledger at a known order rate (= the tick
 * rate) through the whole real path (stream → process → commands queue → execute → ledger → events queue).
 * Select it with STRATEGY_NAME / the stack's `strategyName` context; the windows are ignored.
 */
export function loadTestEveryTick(params: StrategyParams): Strategy<LoadTestState> {
  const { orderQuantity } = params;
  return {
    name: LOAD_TEST_STRATEGY,
    stateSchema: LoadTestStateSchema,
    initialState: () => ({ nextSide: 'BUY' }),
    onTick(state: LoadTestState, tick: Tick): StrategyStep<LoadTestState> {
      return {
        state: { nextSide: state.nextSide === 'BUY' ? 'SELL' : 'BUY' },
        orders: [{ side: state.nextSide, quantity: orderQuantity, price: tick.price }],
      };
    },
  };
}
