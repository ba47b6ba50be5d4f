import * as z from 'zod';
import { loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';
import { raftEnv, requireOneSecret } from '../../shared/config/raft';

export const apiEnv = {
  ...powertoolsEnv,
  ...raftEnv,
  ORDERS_TABLE_NAME: nonEmptyString,
};
export type ApiConfig = z.infer<z.ZodObject<typeof apiEnv>>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const config = loadConfig(apiEnv, env);
  requireOneSecret(config);
  return config;
}
