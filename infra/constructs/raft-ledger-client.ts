import { RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { encodeScopedKey, scopedKey } from '../../shared/ledger-contract/auth';
import type { InfraConfig } from '../config';
import type { FunctionVpcPlacement } from './pipeline-function';
import { RaftClientKeys, type FunctionScope } from './raft-client-keys';

/** Where the execute and api functions find the Raft ledger when RaftClusterStack is deployed. */
export interface RaftClusterAccess {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  clientSecurityGroup: ec2.ISecurityGroup;
  memberUrls: string[];
  /** The per-scope client keys, issued in RaftClusterStack next to the root secret. */
  clientKeys: RaftClientKeys;
}

/**
 * What a function that calls the Raft ledger (execute, api) needs: the members, a credential of its own scope
 * only (never the root secret), read access to that credential alone, and a place in the cluster's VPC when the
 * app deploys the cluster. The credential is
 *  - with RaftClusterStack: RAFT_CLIENT_KEY_ARN, the scope's secret issued there (RaftClientKeys);
 *  - with `raftAuthSecretArn` (a cluster outside the app): the same, issued in this stack from that ARN;
 *  - with `raftAuthSecret` (LocalStack + compose, the embedded cloud): RAFT_CLIENT_KEY, the scoped key derived
 *    at synth time (the plaintext root secret is in the context already; the template carries only the key).
 */
export class RaftLedgerClient {
  readonly vpcPlacement: FunctionVpcPlacement | undefined;
  readonly members: string;
  private readonly keys: RaftClientKeys | undefined;

  constructor(
    scope: Construct,
    private readonly config: InfraConfig,
    cluster: RaftClusterAccess | undefined,
  ) {
    this.members = (cluster?.memberUrls ?? config.raftMembers ?? []).join(',');
    this.keys =
      cluster?.clientKeys ??
      (config.raftAuthSecretArn === undefined
        ? undefined
        : new RaftClientKeys(scope, 'RaftClientKeys', {
            rootSecretArn: config.raftAuthSecretArn,
            removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
            revision: config.raftClientKeysRevision,
          }));
    this.vpcPlacement = cluster && {
      vpc: cluster.vpc,
      subnets: cluster.subnets,
      securityGroups: [cluster.clientSecurityGroup],
    };
  }

  /** The environment of a function holding `scope`. */
  environment(scope: FunctionScope): Record<string, string> {
    const env: Record<string, string> = {
      RAFT_MEMBERS: this.members,
      RAFT_REQUEST_TIMEOUT_MS: String(this.config.raftRequestTimeoutMs),
    };
    if (this.keys) {
      env.RAFT_CLIENT_KEY_ARN = this.keys.secrets[scope].secretArn;
      // Read by no code: a new revision changes the function's configuration, so Lambda replaces its warm
      // containers, which would otherwise keep minting with the key they read at cold start.
      env.RAFT_CLIENT_KEY_REVISION = this.config.raftClientKeysRevision;
    } else if (this.config.raftAuthSecret !== undefined) {
      env.RAFT_CLIENT_KEY = encodeScopedKey(scopedKey(this.config.raftAuthSecret, scope));
    }
    return env;
  }

  /** Lets the function read its own scope's key, when it comes from Secrets Manager; nothing else. */
  grantKeyRead(fn: iam.IGrantable, scope: FunctionScope): void {
    this.keys?.grantRead(fn, scope);
  }
}
