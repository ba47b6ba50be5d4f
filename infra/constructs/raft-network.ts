import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { GroupedSecurityGroup, ResourceGroup } from './logical-ids';

/**
 * The Raft cluster's VPC: private isolated subnets only (no NAT: the tasks and functions reach AWS through the
 * endpoints), a flow log of rejected traffic, S3/DynamoDB gateway endpoints and closed interface endpoints
 * (RaftSecurityGroups opens them to the nodes and their callers).
 *
 * It is the VPC itself rather than a group around it: the VPC writes its construct path into the Name tags of
 * everything in it and into its endpoints' security group descriptions (a changed description replaces the
 * group), so the path stays `<stack>/Vpc`.
 */
export class RaftNetwork extends ec2.Vpc {
  /** The subnets of the nodes, the endpoints, the EFS mount targets and the VPC functions. */
  readonly clusterSubnets: ec2.SubnetSelection;
  readonly interfaceEndpoints: ec2.InterfaceVpcEndpoint[];

  constructor(scope: Construct, id: string, config: InfraConfig) {
    // The VPC's sibling, as it has always been (its logical id derives from `<id>FlowLogGroup` under the stack).
    const flowLogGroup = new logs.LogGroup(scope, `${id}FlowLogGroup`, {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      maxAzs: config.maxAzs,
      natGateways: 0,
      subnetConfiguration: [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
        },
      },
    });
    this.clusterSubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    this.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    const interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      EcrApiEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDockerEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      LogsEndpoint: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      SqsEndpoint: ec2.InterfaceVpcEndpointAwsService.SQS,
      KinesisEndpoint: ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
      SecretsManagerEndpoint: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    this.interfaceEndpoints = Object.entries(interfaceEndpoints).map(([endpointId, service]) =>
      this.addInterfaceEndpoint(endpointId, {
        service,
        subnets: this.clusterSubnets,
        privateDnsEnabled: true,
        open: false,
      }),
    );
  }
}

/**
 * Who may talk to whom in the cluster: the security groups of the nodes, of their callers (the execute and api
 * functions) and of the data file system's mount targets, with the rules between them and to the endpoints.
 */
export class RaftSecurityGroups extends ResourceGroup {
  readonly nodes: ec2.SecurityGroup;
  /** Attach this group to anything that calls the Raft HTTP API (the execute and api functions). */
  readonly clients: ec2.SecurityGroup;
  readonly dataMountTargets: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, { config, network }: { config: InfraConfig; network: RaftNetwork }) {
    super(scope, id);
    const vpc = network;
    const nodes = new GroupedSecurityGroup(this, 'RaftNodeSecurityGroup', {
      vpc,
      description: 'Raft ledger nodes: peer traffic between nodes, HTTP API from clients and peers',
      allowAllOutbound: true,
    });
    const clients = new GroupedSecurityGroup(this, 'RaftClientSecurityGroup', {
      vpc,
      description: 'Callers of the Raft HTTP API (execute and api functions)',
      allowAllOutbound: true,
    });
    for (const endpoint of network.interfaceEndpoints) {
      endpoint.connections.allowDefaultPortFrom(nodes, 'HTTPS from the Raft nodes');
      endpoint.connections.allowDefaultPortFrom(clients, 'HTTPS from the VPC functions');
    }
    nodes.addIngressRule(nodes, ec2.Port.tcp(config.raftPeerPort), 'Raft peer traffic between nodes only');
    nodes.addIngressRule(
      clients,
      ec2.Port.tcp(config.raftHttpPort),
      'Raft HTTP API from the execute and api functions',
    );
    nodes.addIngressRule(
      clients,
      ec2.Port.tcp(config.raftClientPort),
      'Raft binary client protocol from the execute and api functions',
    );
    // A joining node calls the bootstrap node's HTTP API (RAFT_JOIN_ADDR), and followers redirect to the leader.
    nodes.addIngressRule(
      nodes,
      ec2.Port.tcp(config.raftHttpPort),
      'Raft HTTP API between nodes (join, leader redirect)',
    );

    const dataMountTargets = new GroupedSecurityGroup(this, 'RaftDataSecurityGroup', {
      vpc,
      description: 'EFS mount targets of the Raft data file system: NFS from the nodes only',
      allowAllOutbound: false,
    });
    dataMountTargets.addIngressRule(nodes, ec2.Port.tcp(2049), 'NFS from the Raft nodes');
    this.nodes = nodes;
    this.clients = clients;
    this.dataMountTargets = dataMountTargets;
  }
}
