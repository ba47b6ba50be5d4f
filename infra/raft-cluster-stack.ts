import { RemovalPolicy, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { InfraConfig } from './config';
import { GroupingStack } from './constructs/logical-ids';
import { RaftAuthSecret } from './constructs/raft-auth-secret';
import { RaftClientKeys } from './constructs/raft-client-keys';
import { RaftDataFileSystem } from './constructs/raft-data';
import { RaftNetwork, RaftSecurityGroups } from './constructs/raft-network';
import { RaftNodeRuntime } from './constructs/raft-node-runtime';
import { RAFT_NODE_IDS, raftMemberUrl, RaftNodeService, type RaftNodeId } from './constructs/raft-node-service';

export interface RaftClusterStackProps extends StackProps {
  config: InfraConfig;
}

/**
 * Three Raft ledger nodes (n1, n2, n3) on ECS Fargate in a VPC without NAT: one single-task service per
 * node, each with its own EFS access point as its data dir and a stable Cloud Map DNS name. The construct ids
 * are those the resources had before the split, so every logical id (and path-derived property) is unchanged.
 */
export class RaftClusterStack extends GroupingStack {
  readonly network: RaftNetwork;
  readonly securityGroups: RaftSecurityGroups;
  readonly authSecret: RaftAuthSecret;
  /** The nodes' peer handshake secret, distinct from the client root secret. */
  readonly peerSecret: RaftAuthSecret;
  /** The execute and api functions' scoped keys, issued from the root secret. */
  readonly clientKeys: RaftClientKeys;
  readonly nodes: Record<RaftNodeId, RaftNodeService>;
  /** The members' HTTP base URLs (Cloud Map DNS names), for RAFT_MEMBERS. */
  readonly memberUrls: string[];

  constructor(scope: Construct, id: string, props: RaftClusterStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const network = (this.network = new RaftNetwork(this, 'Vpc', config));
    const securityGroups = (this.securityGroups = new RaftSecurityGroups(this, 'SecurityGroups', { config, network }));
    const securityGroup = securityGroups.dataMountTargets;
    const data = new RaftDataFileSystem(this, 'RaftData', { config, network, securityGroup, removalPolicy });
    const authSecret = (this.authSecret = new RaftAuthSecret(this, 'RaftAuthSecret', removalPolicy));
    const peerSecret = (this.peerSecret = new RaftAuthSecret(this, 'RaftPeerSecret', removalPolicy, 'peer'));
    this.clientKeys = new RaftClientKeys(this, 'RaftClientKeys', {
      rootSecretArn: authSecret.secretArn,
      removalPolicy,
      revision: config.raftClientKeysRevision,
    });
    // PipelineStack no longer imports the root secret's ARN (its functions hold scoped keys), but a deployment
    // made before that still does, and CloudFormation refuses to delete an export in use: keep it (an ARN, not
    // the value; only the nodes' roles and the issuer may read it) until every PipelineStack has been updated.
    this.exportValue(authSecret.secretArn);
    const runtime = new RaftNodeRuntime(this, 'NodeRuntime', { config, network });

    const nodes: Partial<Record<RaftNodeId, RaftNodeService>> = {};
    let previous: RaftNodeService | undefined;
    for (const nodeId of RAFT_NODE_IDS) {
      const after = previous?.service;
      const props = { config, nodeId, network, securityGroups, data, runtime, authSecret, peerSecret, after };
      previous = nodes[nodeId] = new RaftNodeService(this, nodeId.toUpperCase(), props);
    }
    this.nodes = nodes as Record<RaftNodeId, RaftNodeService>;
    this.clientKeys.issueAfter(...RAFT_NODE_IDS.map((nodeId) => this.nodes[nodeId].service));
    this.memberUrls = RAFT_NODE_IDS.map((nodeId) => raftMemberUrl(config, nodeId));
  }
}
