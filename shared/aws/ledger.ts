import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createLedgerClient } from '../raft-client/client';
import type { LedgerClient } from '../raft-client/types';

export interface LedgerSettings {
  RAFT_MEMBERS: string[];
  RAFT_AUTH_SECRET?: string;
  RAFT_AUTH_SECRET_ARN?: string;
  RAFT_REQUEST_TIMEOUT_MS?: number;
}

/**
 * The ledger client of one container, created on first use: with RAFT_AUTH_SECRET_ARN the secret must be
 * fetched first, which is asynchronous, and module init cannot await (CommonJS bundles). A failed fetch is
 * not cached, so the next invocation tries again.
 */
export function lazyLedgerClient(
  settings: LedgerSettings,
  secrets: () => SecretsManagerClient,
): () => Promise<LedgerClient> {
  let pending: Promise<LedgerClient> | undefined;
  const build = async (): Promise<LedgerClient> => {
    let authSecret = settings.RAFT_AUTH_SECRET;
    if (settings.RAFT_AUTH_SECRET_ARN) {
      const secret = await secrets().send(new GetSecretValueCommand({ SecretId: settings.RAFT_AUTH_SECRET_ARN }));
      if (!secret.SecretString) throw new Error(`secret ${settings.RAFT_AUTH_SECRET_ARN} has no string value`);
      authSecret = secret.SecretString;
    }
    return createLedgerClient({
      members: settings.RAFT_MEMBERS,
      ...(authSecret ? { authSecret } : {}),
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
