import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import type { RaftNetwork } from './raft-network';

export interface RaftDataFileSystemProps {
  config: InfraConfig;
  network: RaftNetwork;
  /** Its mount targets' group (NFS from the nodes only). */
  securityGroup: ec2.ISecurityGroup;
  removalPolicy: RemovalPolicy;
}

/**
 * The nodes' data: one encrypted, backed-up EFS file system with an access point per node. It is the file system
 * itself rather than a group around it: EFS writes its construct path into its and its access points' Name tags.
 */
export class RaftDataFileSystem extends efs.FileSystem {
  private readonly nodeUid: string;

  constructor(
    scope: Construct,
    id: string,
    { config, network, securityGroup, removalPolicy }: RaftDataFileSystemProps,
  ) {
    super(scope, id, {
      vpc: network,
      vpcSubnets: network.clusterSubnets,
      securityGroup,
      encrypted: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.BURSTING,
      enableAutomaticBackups: true,
      removalPolicy,
    });
    this.nodeUid = String(config.raftNodeUid);
  }

  /** A node's own directory (/<nodeId>), owned by and entered as the node's uid: its data dir. */
  addNodeAccessPoint(nodeId: string): efs.AccessPoint {
    const uid = this.nodeUid;
    return this.addAccessPoint(`${nodeId.toUpperCase()}AccessPoint`, {
      path: `/${nodeId}`,
      posixUser: { uid, gid: uid },
      createAcl: { ownerUid: uid, ownerGid: uid, permissions: '750' },
    });
  }
}
