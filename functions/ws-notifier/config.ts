import * as z from 'zod';
import { intFromEnv, loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';
import { liveDeliveryEnv } from '../ws-connection/config';

export const wsNotifierEnv = {
  ...powertoolsEnv,
  ...liveDeliveryEnv,
  /** Posts in flight at once (across connections; one connection's posts are always one after another). */
  WS_POST_CONCURRENCY: intFromEnv(1, 256).default(32),
  /** market-data's candles: `candle.update` carries them as stored. */
  CANDLES_TABLE_NAME: nonEmptyString,
};
export type WsNotifierConfig = z.infer<z.ZodObject<typeof wsNotifierEnv>>;

export function loadWsNotifierConfig(env: NodeJS.ProcessEnv = process.env): WsNotifierConfig {
  return loadConfig(wsNotifierEnv, env);
}
