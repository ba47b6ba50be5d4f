import { Aspects, Tags, type App, type Environment } from 'aws-cdk-lib';
import { ManagedPolicy, PermissionsBoundary } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadInfraConfig, type InfraConfig } from './config';
import { PipelineStack } from './pipeline-stack';
import { RaftClusterStack } from './raft-cluster-stack';

/**
 * Feature flags the app is written for, set explicitly (app.ts and the tests both apply them):
 * same-region cross-stack references as classic exports/imports.
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  '@aws-cdk/core:defaultCrossStackReferences': 'strong',
};

export interface TradingStacks {
  config: InfraConfig;
  pipeline: PipelineStack;
  /** Absent when the cluster runs outside the app (LocalStack: the compose nodes). */
  raftCluster?: RaftClusterStack;
}

/**
 * Builds the app's stacks from its context and applies cdk-nag's AwsSolutions pack to all of them
 * (an unsuppressed finding fails `cdk synth`). Shared by infra/app.ts and the infra tests.
 */
export function createTradingStacks(app: App): TradingStacks {
  const config = loadInfraConfig(app.node);
  const env: Environment = {
    account: config.account ?? process.env.CDK_DEFAULT_ACCOUNT,
    region: config.region ?? process.env.CDK_DEFAULT_REGION ?? 'us-east-1',
  };
  Tags.of(app).add('project', 'exactly-once-trading-pipeline');
  Tags.of(app).add('target', config.target);

  let raftCluster: RaftClusterStack | undefined;
  if (config.deployRaftCluster) {
    raftCluster = new RaftClusterStack(app, 'RaftClusterStack', {
      env,
      config,
      description: 'Raft ledger: three Fargate nodes (n1..n3) with EFS data, Cloud Map names, VPC endpoints',
    });
  }
  const pipeline = new PipelineStack(app, 'PipelineStack', {
    env,
    config,
    description: 'Exactly-once trading pipeline: Kinesis, SQS FIFO, DynamoDB, Lambda, HTTP API, schedule',
    raftCluster: raftCluster && {
      vpc: raftCluster.network,
      subnets: raftCluster.network.clusterSubnets,
      clientSecurityGroup: raftCluster.securityGroups.clients,
      memberUrls: raftCluster.memberUrls,
      clientKeys: raftCluster.clientKeys,
    },
  });
  if (config.target === 'aws' && config.permissionsBoundary !== 'none') {
    // Every role the stacks create carries the boundary, so the deploy role's right to create roles cannot be
    // turned into more rights than the boundary allows (infra/cfn-execution-policy.json requires it).
    for (const stack of [pipeline, raftCluster]) {
      if (!stack) continue;
      const boundary = ManagedPolicy.fromManagedPolicyName(stack, 'PermissionsBoundary', config.permissionsBoundary);
      PermissionsBoundary.of(stack).apply(boundary);
    }
  }
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return { config, pipeline, raftCluster };
}
