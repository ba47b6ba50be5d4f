import * as z from 'zod';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';

/** GET /orders reads the execution records' history indexes (ORDERS_TABLE_NAME, in ledgerFunctionEnv). */
export const apiEnv = {
  ...ledgerFunctionEnv,
  /** `false` between the two deploys of an upgrade (infra's orderHistoryIndexes): GET /orders?symbol= answers 503. */
  ORDER_HISTORY_BY_SYMBOL: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
};
export type ApiConfig = z.infer<z.ZodObject<typeof apiEnv>>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return loadLedgerFunctionConfig(apiEnv, env);
}
