import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { encodeScopedKey, isScope, scopedKey } from '../../shared/ledger-contract/auth';

/**
 * The custom resource behind infra/constructs/raft-client-keys.ts, run by CloudFormation at deploy time (never by
 * a client): reads the cluster's root secret and writes each function's scoped key (auth.ts `scopedKey`, the same
 * HKDF derivation the nodes verify with) into that function's own secret. So a function's role reads a key
 * that mints one scope only, and the root secret is read by the nodes and by this deploy-time step alone.
 *
 * Properties: RootSecretArn, Keys (scope → secret ARN), Revision (bumped to re-issue after a root rotation).
 * A Delete leaves the secrets to their own resources' removal.
 */
interface Properties {
  RootSecretArn: string;
  Keys: Record<string, string>;
}

const sm = new SecretsManagerClient({});

export async function handler(event: CloudFormationCustomResourceEvent): Promise<{ PhysicalResourceId: string }> {
  const physicalId = 'raft-client-keys';
  if (event.RequestType === 'Delete') return { PhysicalResourceId: physicalId };
  const props = event.ResourceProperties as unknown as Properties;
  const root = await sm.send(new GetSecretValueCommand({ SecretId: props.RootSecretArn }));
  if (!root.SecretString) throw new Error(`secret ${props.RootSecretArn} has no string value`);
  for (const [scope, secretArn] of Object.entries(props.Keys)) {
    if (!isScope(scope)) throw new Error(`Keys: ${scope} is not a scope`);
    const value = encodeScopedKey(scopedKey(root.SecretString, scope));
    // Idempotent: a retried or repeated deploy writes the same value (HKDF is deterministic).
    await sm.send(new PutSecretValueCommand({ SecretId: secretArn, SecretString: value }));
  }
  return { PhysicalResourceId: physicalId };
}
