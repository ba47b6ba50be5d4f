import * as z from 'zod';
import { commaList, httpUrl, intFromEnv, nonEmptyString } from './env';

/** How execute and api reach the Raft ledger; the secret comes either inline or from Secrets Manager. */
export const raftEnv = {
  RAFT_MEMBERS: commaList(httpUrl),
  RAFT_AUTH_SECRET: nonEmptyString.optional(),
  RAFT_AUTH_SECRET_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager ARN')
    .optional(),
  RAFT_REQUEST_TIMEOUT_MS: intFromEnv(100, 60_000).optional(),
};

export function requireOneSecret(config: { RAFT_AUTH_SECRET?: string; RAFT_AUTH_SECRET_ARN?: string }): void {
  if (!config.RAFT_AUTH_SECRET === !config.RAFT_AUTH_SECRET_ARN) {
    throw new Error('Invalid configuration: set exactly one of RAFT_AUTH_SECRET and RAFT_AUTH_SECRET_ARN');
  }
}
