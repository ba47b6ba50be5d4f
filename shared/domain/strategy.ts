import * as z from 'zod';
import type { Side } from './order';
import type { Tick } from './tick';
import { LOAD_TEST_STRATEGY, loadTestEveryTick } from './load-test-strategy';
import { movingAverageCrossover } from './ma-crossover';

/** What a strategy asks for; process turns each intent into an order with a deterministic id. */
export interface OrderIntent {
  side: Side;
  quantity: number;
  price: number;
}

export interface StrategyStep<State> {
  state: State;
  orders: OrderIntent[];
}

/**
 * A trading strategy: a pure function of (state, tick) → (state, orders), one state per symbol.
 * `stateSchema` validates the state read back from storage, so a state written by another strategy or version
 * is detected instead of being misread.
 */
export interface Strategy<State> {
  readonly name: string;
  readonly stateSchema: z.ZodType<State>;
  initialState(): State;
  onTick(state: State, tick: Tick): StrategyStep<State>;
}

export const StrategyParamsSchema = z
  .object({
    fastWindow: z.number().int().min(1).max(1000),
    slowWindow: z.number().int().min(2).max(1000),
    orderQuantity: z.number().int().positive().max(1_000_000),
  })
  .refine((p) => p.fastWindow < p.slowWindow, { message: 'fastWindow must be smaller than slowWindow' });
export type StrategyParams = z.infer<typeof StrategyParamsSchema>;

export type StrategyFactory = (params: StrategyParams) => Strategy<unknown>;

const registry = new Map<string, StrategyFactory>([
  ['ma-crossover', movingAverageCrossover],
  // For benchmarks only: one order per tick (see load-test-strategy.ts).
  [LOAD_TEST_STRATEGY, loadTestEveryTick],
]);

export const DEFAULT_STRATEGY = 'ma-crossover';

/** Makes another strategy selectable by name (process picks one by its STRATEGY_NAME, default ma-crossover). */
export function registerStrategy(name: string, factory: StrategyFactory): void {
  registry.set(name, factory);
}

export function strategyNames(): string[] {
  return [...registry.keys()];
}

export function createStrategy(name: string, params: StrategyParams): Strategy<unknown> {
  const factory = registry.get(name);
  if (!factory) throw new Error(`unknown strategy "${name}"; known: ${strategyNames().join(', ')}`);
  return factory(StrategyParamsSchema.parse(params));
}
