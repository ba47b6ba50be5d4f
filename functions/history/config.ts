import * as z from 'zod';
import { intFromEnv, loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';

export const historyEnv = {
  ...powertoolsEnv,
  ORDER_HISTORY_TABLE_NAME: nonEmptyString,
  /** How long an order stays in the history (TTL from its creation), infra's orderHistoryRetentionDays. */
  ORDER_HISTORY_RETENTION_DAYS: intFromEnv(1, 3650),
};
export type HistoryConfig = z.infer<z.ZodObject<typeof historyEnv>>;

export function loadHistoryConfig(env: NodeJS.ProcessEnv = process.env): HistoryConfig {
  return loadConfig(historyEnv, env);
}
