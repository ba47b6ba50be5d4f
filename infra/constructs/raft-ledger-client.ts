import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { InfraConfig } from '../config';
import type { FunctionVpcPlacement } from './pipeline-function';

/** Where the execute and api functions find the Raft ledger when RaftClusterStack is deployed. */
export interface RaftClusterAccess {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  clientSecurityGroup: ec2.ISecurityGroup;
  memberUrls: string[];
  authSecret: secretsmanager.ISecret;
}

/**
 * What a function that calls the Raft ledger (execute, api) needs: the members and the auth secret in its
 * environment, read access to that secret, and a place in the cluster's VPC when the app deploys the cluster.
 * The members and secret come from RaftClusterStack when present, otherwise from context.
 */
export class RaftLedgerClient {
  readonly environment: Record<string, string>;
  readonly vpcPlacement: FunctionVpcPlacement | undefined;

  constructor(
    private readonly config: InfraConfig,
    private readonly cluster: RaftClusterAccess | undefined,
  ) {
    this.environment = {
      RAFT_MEMBERS: (cluster?.memberUrls ?? config.raftMembers ?? []).join(','),
      RAFT_REQUEST_TIMEOUT_MS: String(config.raftRequestTimeoutMs),
    };
    const secretArn = cluster?.authSecret.secretArn ?? config.raftAuthSecretArn;
    if (secretArn !== undefined) this.environment.RAFT_AUTH_SECRET_ARN = secretArn;
    else if (config.raftAuthSecret !== undefined) this.environment.RAFT_AUTH_SECRET = config.raftAuthSecret;
    this.vpcPlacement = cluster && {
      vpc: cluster.vpc,
      subnets: cluster.subnets,
      securityGroups: [cluster.clientSecurityGroup],
    };
  }

  /** The members' HTTP base URLs, comma-separated (the RaftMembers output). */
  get members(): string {
    return this.environment.RAFT_MEMBERS ?? '';
  }

  /** Lets the function read the auth secret, when it comes from Secrets Manager. */
  grantSecretRead(fn: lambda.IFunction): void {
    if (this.cluster) {
      this.cluster.authSecret.grantRead(fn);
    } else if (this.config.raftAuthSecretArn !== undefined) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: [this.config.raftAuthSecretArn],
        }),
      );
    }
  }
}
