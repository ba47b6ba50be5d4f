import * as path from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import type { RaftNetwork } from './raft-network';

/** The repository root: the raft-node image's build context (its Dockerfile copies shared/ too). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * What the image build needs from the repository. Everything else (node_modules, cdk.out, tests, …)
 * is left out of the asset, so its hash changes only when the node's inputs change and synth stays fast.
 */
export const RAFT_IMAGE_CONTEXT_EXCLUDES = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!raft-node',
  '!shared',
];

/** What the three node services share: the ECS cluster, the Cloud Map namespace, the image and the log group. */
export class RaftNodeRuntime extends ResourceGroup {
  readonly namespace: servicediscovery.PrivateDnsNamespace;
  readonly cluster: ecs.Cluster;
  readonly image: ecs.ContainerImage;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, { config, network }: { config: InfraConfig; network: RaftNetwork }) {
    super(scope, id);
    this.namespace = new servicediscovery.PrivateDnsNamespace(this, 'RaftNamespace', {
      name: config.raftNamespace,
      vpc: network,
      description: 'Stable DNS names of the Raft nodes (n1, n2, n3)',
    });
    this.cluster = new ecs.Cluster(this, 'RaftCluster', {
      vpc: network,
      containerInsightsV2: config.containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    if (!config.containerInsights) {
      NagSuppressions.addResourceSuppressions(this.cluster, [
        { id: 'AwsSolutions-ECS4', reason: 'Container Insights turned off by the containerInsights=false context.' },
      ]);
    }
    this.image = ecs.ContainerImage.fromAsset(REPO_ROOT, {
      file: 'raft-node/Dockerfile',
      exclude: RAFT_IMAGE_CONTEXT_EXCLUDES,
      platform: config.raftNodeArchitecture === 'arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    });
    this.logGroup = new logs.LogGroup(this, 'RaftNodeLogGroup', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }
}
