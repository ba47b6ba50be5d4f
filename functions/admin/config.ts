import * as z from 'zod';
import { powertoolsEnv, loadConfig } from '../../shared/config/env';
import { raftEnv, requireOneSecret } from '../../shared/config/raft';

const WatchedQueuesSchema = z.array(
  z.object({ name: z.string().min(1), url: z.string().min(1).optional(), deadLettersUrl: z.string().min(1) }).strict(),
);

/**
 * The admin function reaches the ledger (with an `admin`-scope key) and reads the depths of the pipeline's queues
 * (WATCHED_QUEUES, JSON written by infra/constructs/watched-queues.ts); it keeps no table of its own.
 */
export const adminEnv = {
  ...powertoolsEnv,
  ...raftEnv,
  WATCHED_QUEUES: z
    .string()
    .default('[]')
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(WatchedQueuesSchema),
};
export type AdminConfig = z.infer<z.ZodObject<typeof adminEnv>>;

export function loadAdminConfig(env: NodeJS.ProcessEnv = process.env): AdminConfig {
  const config = loadConfig(adminEnv, env);
  requireOneSecret(config);
  return config;
}
