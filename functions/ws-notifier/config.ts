import * as z from 'zod';
import { intFromEnv, loadConfig, nonEmptyString, powertoolsEnv, queueArn, queueUrl } from '../../shared/config/env';
import { liveDeliveryEnv } from '../ws-connection/config';

export const wsNotifierEnv = {
  ...powertoolsEnv,
  ...liveDeliveryEnv,
  /** Posts in flight at once (across connections; one connection's posts are always one after another). */
  WS_POST_CONCURRENCY: intFromEnv(1, 256).default(32),
  /**
   * How long a warm notifier reuses a price or candle topic's subscriber list (ms; 0: read for every batch): a new
   * price or candle subscriber's first update comes at most this late. Order updates always read their subscribers.
   */
  WS_MARKET_SUBSCRIBERS_TTL_MS: intFromEnv(0, 60_000).default(1000),
  /** market-data's candles: `candle.update` carries them as stored. */
  CANDLES_TABLE_NAME: nonEmptyString,
  /** The account-updates queue (group = account) the order events are regrouped through (functions/ws-notifier/app.ts). */
  ACCOUNT_UPDATES_QUEUE_URL: queueUrl,
  /** The same queue's ARN: its records are told from the order events' by their eventSourceARN. */
  ACCOUNT_UPDATES_QUEUE_ARN: queueArn,
};
export type WsNotifierConfig = z.infer<z.ZodObject<typeof wsNotifierEnv>>;

export function loadWsNotifierConfig(env: NodeJS.ProcessEnv = process.env): WsNotifierConfig {
  return loadConfig(wsNotifierEnv, env);
}
