import * as z from 'zod';
import { intFromEnv, loadConfig, nonEmptyString, powertoolsEnv, queueUrl } from '../../shared/config/env';
import { AccountSchema } from '../../shared/domain/order';
import { DEFAULT_STRATEGY, strategyNames } from '../../shared/domain/strategy';

export const processEnv = {
  ...powertoolsEnv,
  STRATEGY_TABLE_NAME: nonEmptyString,
  COMMANDS_QUEUE_URL: queueUrl,
  /** The mapping's on-failure queue: process sends each poison record there itself, with its reason. */
  FAILURE_QUEUE_URL: queueUrl,
  STRATEGY_NAME: z
    .string()
    .default(DEFAULT_STRATEGY)
    .refine((name) => strategyNames().includes(name), { message: `must be one of: ${strategyNames().join(', ')}` }),
  STRATEGY_FAST_WINDOW: intFromEnv(1, 1000),
  STRATEGY_SLOW_WINDOW: intFromEnv(2, 1000),
  STRATEGY_ORDER_QUANTITY: intFromEnv(1, 1_000_000),
  TRADING_ACCOUNT: AccountSchema,
};
export type ProcessConfig = z.infer<z.ZodObject<typeof processEnv>>;

export function loadProcessConfig(env: NodeJS.ProcessEnv = process.env): ProcessConfig {
  const config = loadConfig(processEnv, env);
  if (config.STRATEGY_FAST_WINDOW >= config.STRATEGY_SLOW_WINDOW) {
    throw new Error('Invalid configuration: STRATEGY_FAST_WINDOW must be smaller than STRATEGY_SLOW_WINDOW');
  }
  return config;
}
