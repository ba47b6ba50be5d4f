import * as z from 'zod';
import { orderRecordsWriterEnv, queueUrl, topicArn } from '../../shared/config/env';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';

export const executeEnv = {
  ...ledgerFunctionEnv,
  /** The order events FIFO topic: every consumer subscribes its own FIFO queue (docs/architecture.md). */
  EVENTS_TOPIC_ARN: topicArn,
  /** Where a command no retry can fix goes at once, with its reason (the queue's redrive target). */
  COMMANDS_DLQ_URL: queueUrl,
  /** Execute's records are the order history too: how long they are kept. */
  ...orderRecordsWriterEnv,
  /** The live-delivery notifier's account-updates queue (FIFO, group = account): execute sends its orders' updates. */
  ACCOUNT_UPDATES_QUEUE_URL: queueUrl,
};
export type ExecuteConfig = z.infer<z.ZodObject<typeof executeEnv>>;

export function loadExecuteConfig(env: NodeJS.ProcessEnv = process.env): ExecuteConfig {
  return loadLedgerFunctionConfig(executeEnv, env);
}
