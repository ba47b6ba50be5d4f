import * as z from 'zod';
import { loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';

export const marketDataApiEnv = {
  ...powertoolsEnv,
  TICKS_TABLE_NAME: nonEmptyString,
  CANDLES_TABLE_NAME: nonEmptyString,
};
export type MarketDataApiConfig = z.infer<z.ZodObject<typeof marketDataApiEnv>>;

export function loadMarketDataApiConfig(env: NodeJS.ProcessEnv = process.env): MarketDataApiConfig {
  return loadConfig(marketDataApiEnv, env);
}
