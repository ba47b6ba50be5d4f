import * as z from 'zod';
import { nonEmptyString } from '../../shared/config/env';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';

export const apiEnv = {
  ...ledgerFunctionEnv,
  /** What GET /orders reads (the history writer's table). */
  ORDER_HISTORY_TABLE_NAME: nonEmptyString,
};
export type ApiConfig = z.infer<z.ZodObject<typeof apiEnv>>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return loadLedgerFunctionConfig(apiEnv, env);
}
