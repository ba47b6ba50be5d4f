import * as z from 'zod';
import { intFromEnv, nonEmptyString, orderRecordsWriterEnv, queueUrl, topicArn } from '../../shared/config/env';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';

/** Order entry's own settings: the orders function's, and the WebSocket connection function's (order.submit). */
export const orderEntryEnv = {
  /** Where orders go: the commands FIFO queue strategy orders take too. */
  COMMANDS_QUEUE_URL: queueUrl,
  /** Where a canceled order's CANCELED event goes (the order-events topic execute publishes to). */
  EVENTS_TOPIC_ARN: topicArn,
  /** Where the last price of each symbol is read (process writes it with the strategy state). */
  STRATEGY_TABLE_NAME: nonEmptyString,
  /** Orders per second per account before 429. */
  ORDER_RATE_LIMIT_PER_SECOND: intFromEnv(1, 10_000).default(10),
  /** A cancel that wins writes the order's execution record, which is its history entry too. */
  ...orderRecordsWriterEnv,
};

export const ordersEnv = { ...ledgerFunctionEnv, ...orderEntryEnv };
export type OrdersConfig = z.infer<z.ZodObject<typeof ordersEnv>>;

export function loadOrdersConfig(env: NodeJS.ProcessEnv = process.env): OrdersConfig {
  return loadLedgerFunctionConfig(ordersEnv, env);
}
