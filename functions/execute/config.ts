import * as z from 'zod';
import { loadConfig, nonEmptyString, powertoolsEnv, queueUrl } from '../../shared/config/env';
import { raftEnv, requireOneSecret } from '../../shared/config/raft';

export const executeEnv = {
  ...powertoolsEnv,
  ...raftEnv,
  ORDERS_TABLE_NAME: nonEmptyString,
  EVENTS_QUEUE_URL: queueUrl,
  /** Where a command no retry can fix goes at once, with its reason (the queue's redrive target). */
  COMMANDS_DLQ_URL: queueUrl,
};
export type ExecuteConfig = z.infer<z.ZodObject<typeof executeEnv>>;

export function loadExecuteConfig(env: NodeJS.ProcessEnv = process.env): ExecuteConfig {
  const config = loadConfig(executeEnv, env);
  requireOneSecret(config);
  return config;
}
