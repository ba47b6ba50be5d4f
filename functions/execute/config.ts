import * as z from 'zod';
import { queueUrl } from '../../shared/config/env';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';

export const executeEnv = {
  ...ledgerFunctionEnv,
  EVENTS_QUEUE_URL: queueUrl,
  /** Where a command no retry can fix goes at once, with its reason (the queue's redrive target). */
  COMMANDS_DLQ_URL: queueUrl,
};
export type ExecuteConfig = z.infer<z.ZodObject<typeof executeEnv>>;

export function loadExecuteConfig(env: NodeJS.ProcessEnv = process.env): ExecuteConfig {
  return loadLedgerFunctionConfig(executeEnv, env);
}
