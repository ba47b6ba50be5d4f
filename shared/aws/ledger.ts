import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { decodeScopedKey, encodeScopedKey, scopedKey, type Scope } from '../ledger-contract/auth';
import { createLedgerClient } from '../raft-client/client';
import type { LedgerAdminClient, LedgerClient } from '../raft-client/types';

export interface LedgerSettings {
  RAFT_MEMBERS: string[];
  RAFT_CLIENT_KEY?: string;
  RAFT_CLIENT_KEY_ARN?: string;
  RAFT_AUTH_SECRET?: string;
  RAFT_AUTH_SECRET_ARN?: string;
  RAFT_REQUEST_TIMEOUT_MS?: number;
}

/** A secret's string value, fetched once at cold start. */
async function secretString(arn: string, secrets: () => SecretsManagerClient): Promise<string> {
  const secret = await secrets().send(new GetSecretValueCommand({ SecretId: arn }));
  if (!secret.SecretString) throw new Error(`secret ${arn} has no string value`);
  return secret.SecretString;
}

/**
 * The scoped key this function uses: RAFT_CLIENT_KEY as given or read from RAFT_CLIENT_KEY_ARN (it must be of
 * `scope`), or derived from the root secret, which is then dropped, so the client can mint only `scope` tokens
 * whatever the function asks it.
 */
async function clientKeyFor(
  settings: LedgerSettings,
  scope: Scope,
  secrets: () => SecretsManagerClient,
): Promise<string | undefined> {
  const given =
    settings.RAFT_CLIENT_KEY ??
    (settings.RAFT_CLIENT_KEY_ARN ? await secretString(settings.RAFT_CLIENT_KEY_ARN, secrets) : undefined);
  if (given) {
    const key = decodeScopedKey(given);
    if (key.scope !== scope) throw new Error(`RAFT_CLIENT_KEY has scope ${key.scope}; this function needs ${scope}`);
    return given;
  }
  const root = settings.RAFT_AUTH_SECRET_ARN
    ? await secretString(settings.RAFT_AUTH_SECRET_ARN, secrets)
    : settings.RAFT_AUTH_SECRET;
  return root ? encodeScopedKey(scopedKey(root, scope)) : undefined;
}

/**
 * The ledger client of one container, created on first use: with RAFT_AUTH_SECRET_ARN the secret must be
 * fetched first, which is asynchronous, and module init cannot await (CommonJS bundles). A failed fetch is
 * not cached, so the next invocation tries again.
 */
export function lazyLedgerClient(
  settings: LedgerSettings,
  secrets: () => SecretsManagerClient,
  scope: Scope,
): () => Promise<LedgerClient & LedgerAdminClient> {
  let pending: Promise<LedgerClient & LedgerAdminClient> | undefined;
  const build = async (): Promise<LedgerClient & LedgerAdminClient> => {
    const clientKey = await clientKeyFor(settings, scope, secrets);
    return createLedgerClient({
      members: settings.RAFT_MEMBERS,
      ...(clientKey ? { clientKey } : {}),
      ...(settings.RAFT_REQUEST_TIMEOUT_MS ? { requestTimeoutMs: settings.RAFT_REQUEST_TIMEOUT_MS } : {}),
    });
  };
  return () => {
    pending ??= build().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}
