import type { RemovalPolicy } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';

/** The shared secret the nodes and the functions derive the Raft API and peer credentials from. */
export class RaftAuthSecret extends secretsmanager.Secret {
  constructor(scope: Construct, id: string, removalPolicy: RemovalPolicy) {
    super(scope, id, {
      description: 'Shared secret from which Raft API and peer credentials are derived (RAFT_AUTH_SECRET)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(this, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Every node and function must switch secrets together; rotation is a manual rolling restart ' +
          '(put a new value, then redeploy the three node services one at a time and the functions).',
      },
    ]);
  }
}
