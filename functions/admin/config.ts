import * as z from 'zod';
import { powertoolsEnv, loadConfig } from '../../shared/config/env';
import { raftEnv, requireOneSecret } from '../../shared/config/raft';

/** The admin function reaches only the ledger (with an `admin`-scope key); it keeps no table of its own. */
export const adminEnv = { ...powertoolsEnv, ...raftEnv };
export type AdminConfig = z.infer<z.ZodObject<typeof adminEnv>>;

export function loadAdminConfig(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const config = loadConfig(adminEnv, env);
  requireOneSecret(config);
  return config;
}
