import * as z from 'zod';
import { httpUrl, intFromEnv, nonEmptyString } from '../../shared/config/env';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';
import { orderEntryEnv } from '../orders/config';

/** Shared by the connection function and the notifier: where connections, subscriptions and the delivery log are. */
export const liveDeliveryEnv = {
  CONNECTIONS_TABLE_NAME: nonEmptyString,
  SUBSCRIPTIONS_TABLE_NAME: nonEmptyString,
  DELIVERY_LOG_TABLE_NAME: nonEmptyString,
  /** How long delivered order updates stay replayable by `resume` (TTL), in seconds. */
  DELIVERY_LOG_RETENTION_S: intFromEnv(60, 30 * 24 * 3600),
  /** The stage's URL (wss://<api>.execute-api.<region>.amazonaws.com/<stage>): @connections lives under it. */
  WS_CALLBACK_URL: z.string().regex(/^(wss?|https?):\/\/\S+$/, 'must be the stage URL (ws(s):// or http(s)://)'),
  /** Set in the embedded cloud and on LocalStack (the SDK's own variable): @connections is then found there. */
  AWS_ENDPOINT_URL: httpUrl.optional(),
};

/**
 * The connection function reads orders for `order.status` through the ledger, like GET /orders/{orderId}, and
 * enters and cancels orders (`order.submit`, `order.cancel`) configured as the orders function is.
 */
export const wsConnectionEnv = { ...ledgerFunctionEnv, ...liveDeliveryEnv, ...orderEntryEnv };
export type WsConnectionConfig = z.infer<z.ZodObject<typeof wsConnectionEnv>>;

export function loadWsConnectionConfig(env: NodeJS.ProcessEnv = process.env): WsConnectionConfig {
  return loadLedgerFunctionConfig(wsConnectionEnv, env);
}
