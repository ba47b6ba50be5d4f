import type { RemovalPolicy } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/**
 * A secret only the Raft nodes read: the root secret (RAFT_AUTH_SECRET), from which the client scopes' keys
 * derive (the functions get those, RaftClientKeys, never this), or the peer secret (RAFT_PEER_SECRET), from
 * which the peer handshake key derives.
 */
export class RaftAuthSecret extends secretsmanager.Secret {
  constructor(scope: Construct, id: string, removalPolicy: RemovalPolicy, purpose: 'client' | 'peer' = 'client') {
    super(scope, id, {
      description:
        purpose === 'client'
          ? 'Root secret from which the Raft API client keys are derived (RAFT_AUTH_SECRET); nodes only'
          : 'Secret from which the Raft peer handshake key is derived (RAFT_PEER_SECRET); nodes only',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(this, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Every node and function must switch secrets together; rotation is a manual rolling restart ' +
          '(docs/security.md, rotation).',
      },
    ]);
  }
}
