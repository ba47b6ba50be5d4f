import * as z from 'zod';
import { ledgerFunctionEnv, loadLedgerFunctionConfig } from '../../shared/config/raft';

export const apiEnv = ledgerFunctionEnv;
export type ApiConfig = z.infer<z.ZodObject<typeof apiEnv>>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return loadLedgerFunctionConfig(apiEnv, env);
}
