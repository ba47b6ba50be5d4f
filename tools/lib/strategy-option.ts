import { z } from 'zod';
import { strategyNames } from '../../shared/domain/strategy';

/**
 * `--strategy NAME` for the commands that start their own stack (bench, chaos): `stack` keeps the stack's strategy
 * (MA crossover: few orders per tick); another name deploys that one, e.g. `load-test-every-tick` (one order per
 * tick, so the order rate is the tick rate).
 */
export const STRATEGY_USAGE = `  --strategy NAME            stack (the stack's own) or one of: ${strategyNames().join(', ')} (default stack)`;

export const STRATEGY_OPTION = { strategy: { type: 'string', default: 'stack' } } as const;

export const strategySchema = z.string().refine((name) => name === 'stack' || strategyNames().includes(name), {
  message: `stack or one of: ${strategyNames().join(', ')}`,
});

/** The synth context that deploys `name` (none for `stack`). */
export const strategyContext = (name: string): { strategyName?: string } =>
  name === 'stack' ? {} : { strategyName: name };
