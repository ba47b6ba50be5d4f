import * as z from 'zod';
import { commaList, httpUrl, intFromEnv, loadConfig, nonEmptyString, powertoolsEnv } from './env';

/**
 * How execute and api reach the Raft ledger. The credential is RAFT_CLIENT_KEY, or RAFT_CLIENT_KEY_ARN naming the
 * Secrets Manager secret holding it (what the CDK stacks give): a key that mints tokens of the function's own
 * scope only (`npm run token -- key <scope>`). RAFT_AUTH_SECRET / _ARN (the root secret) are still accepted for
 * hand-run setups, never given by this repository's stacks or launchers; the function then derives its scoped
 * key at once and keeps only that (shared/aws/ledger.ts).
 */
const secretArn = z.string().regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager ARN');

export const raftEnv = {
  RAFT_MEMBERS: commaList(httpUrl),
  RAFT_CLIENT_KEY: nonEmptyString.optional(),
  RAFT_CLIENT_KEY_ARN: secretArn.optional(),
  RAFT_AUTH_SECRET: nonEmptyString.optional(),
  RAFT_AUTH_SECRET_ARN: secretArn.optional(),
  RAFT_REQUEST_TIMEOUT_MS: intFromEnv(100, 60_000).optional(),
};

export function requireOneSecret(config: {
  RAFT_CLIENT_KEY?: string;
  RAFT_CLIENT_KEY_ARN?: string;
  RAFT_AUTH_SECRET?: string;
  RAFT_AUTH_SECRET_ARN?: string;
}): void {
  const given = [
    config.RAFT_CLIENT_KEY,
    config.RAFT_CLIENT_KEY_ARN,
    config.RAFT_AUTH_SECRET,
    config.RAFT_AUTH_SECRET_ARN,
  ].filter(Boolean);
  if (given.length !== 1) {
    throw new Error(
      'Invalid configuration: set exactly one of RAFT_CLIENT_KEY, RAFT_CLIENT_KEY_ARN, RAFT_AUTH_SECRET and ' +
        'RAFT_AUTH_SECRET_ARN',
    );
  }
}

/** What every function that reaches the ledger and the orders table (api, execute) is configured with. */
export const ledgerFunctionEnv = {
  ...powertoolsEnv,
  ...raftEnv,
  ORDERS_TABLE_NAME: nonEmptyString,
};

/** Loads a ledger-reaching function's config: its shape's variables, then exactly one of the credentials. */
export function loadLedgerFunctionConfig<Shape extends typeof ledgerFunctionEnv & z.ZodRawShape>(
  shape: Shape,
  env: NodeJS.ProcessEnv,
): z.infer<z.ZodObject<Shape>> {
  const config = loadConfig(shape, env);
  requireOneSecret(config);
  return config;
}
