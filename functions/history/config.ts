import * as z from 'zod';
import { loadConfig, orderHistoryWriterEnv, powertoolsEnv } from '../../shared/config/env';

export const historyEnv = {
  ...powertoolsEnv,
  ...orderHistoryWriterEnv,
};
export type HistoryConfig = z.infer<z.ZodObject<typeof historyEnv>>;

export function loadHistoryConfig(env: NodeJS.ProcessEnv = process.env): HistoryConfig {
  return loadConfig(historyEnv, env);
}
