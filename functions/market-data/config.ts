import * as z from 'zod';
import { intFromEnv, loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';

/** Retention in days, the same bounds as infra/config.ts's context keys. */
const days = intFromEnv(1, 3650);

export const marketDataEnv = {
  ...powertoolsEnv,
  TICKS_TABLE_NAME: nonEmptyString,
  CANDLES_TABLE_NAME: nonEmptyString,
  TICKS_RETENTION_DAYS: days,
  CANDLES_1M_RETENTION_DAYS: days,
  CANDLES_5M_RETENTION_DAYS: days,
  CANDLES_1H_RETENTION_DAYS: days,
};
export type MarketDataConfig = z.infer<z.ZodObject<typeof marketDataEnv>>;

export function loadMarketDataConfig(env: NodeJS.ProcessEnv = process.env): MarketDataConfig {
  return loadConfig(marketDataEnv, env);
}

/** The retention the store applies, from the validated config. */
export function retentionOf(config: MarketDataConfig) {
  return {
    ticksDays: config.TICKS_RETENTION_DAYS,
    candleDays: {
      '1m': config.CANDLES_1M_RETENTION_DAYS,
      '5m': config.CANDLES_5M_RETENTION_DAYS,
      '1h': config.CANDLES_1H_RETENTION_DAYS,
    },
  };
}
