import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { InfraConfig } from './config';

export const RAFT_NODE_IDS = ['n1', 'n2', 'n3'] as const;
export type RaftNodeId = (typeof RAFT_NODE_IDS)[number];

/** The repository root: the raft-node image's build context (its Dockerfile copies shared/ too). */
export const REPO_ROOT = path.resolve(__dirname, '..');

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

export interface RaftClusterStackProps extends StackProps {
  config: InfraConfig;
}

/**
 * Three Raft ledger nodes (n1, n2, n3) on ECS Fargate in a VPC without NAT: one single-task service per
 * node, each with its own EFS access point as its data dir and a stable Cloud Map DNS name.
 */
export class RaftClusterStack extends Stack {
  readonly vpc: ec2.Vpc;
  /** Attach this group to anything that calls the Raft HTTP API (the execute and api functions). */
  readonly clientSecurityGroup: ec2.SecurityGroup;
  readonly nodeSecurityGroup: ec2.SecurityGroup;
  /** The subnets of the nodes, the endpoints and the VPC functions. */
  readonly privateSubnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
  readonly authSecret: secretsmanager.Secret;
  readonly services: Record<RaftNodeId, ecs.FargateService>;
  /** The members' HTTP base URLs (Cloud Map DNS names), for RAFT_MEMBERS. */
  readonly memberUrls: string[];

  constructor(scope: Construct, id: string, props: RaftClusterStackProps) {
    super(scope, id, props);
    const { config } = props;
    const removalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const flowLogGroup = new logs.LogGroup(this, 'VpcFlowLogGroup', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Private isolated subnets only: the tasks and functions reach AWS through endpoints, never a NAT.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
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
    const privateSubnets = this.privateSubnets;
    this.vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.vpc.addGatewayEndpoint('DynamoDbEndpoint', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    const interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpointAwsService> = {
      EcrApiEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR,
      EcrDockerEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
      LogsEndpoint: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
      SqsEndpoint: ec2.InterfaceVpcEndpointAwsService.SQS,
      KinesisEndpoint: ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
      SecretsManagerEndpoint: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    };
    const endpoints = Object.entries(interfaceEndpoints).map(([endpointId, service]) =>
      // Closed by default; HTTPS only from the nodes and the VPC functions (below).
      this.vpc.addInterfaceEndpoint(endpointId, {
        service,
        subnets: privateSubnets,
        privateDnsEnabled: true,
        open: false,
      }),
    );

    this.nodeSecurityGroup = new ec2.SecurityGroup(this, 'RaftNodeSecurityGroup', {
      vpc: this.vpc,
      description: 'Raft ledger nodes: peer traffic between nodes, HTTP API from clients and peers',
      allowAllOutbound: true,
    });
    this.clientSecurityGroup = new ec2.SecurityGroup(this, 'RaftClientSecurityGroup', {
      vpc: this.vpc,
      description: 'Callers of the Raft HTTP API (execute and api functions)',
      allowAllOutbound: true,
    });
    for (const endpoint of endpoints) {
      endpoint.connections.allowDefaultPortFrom(this.nodeSecurityGroup, 'HTTPS from the Raft nodes');
      endpoint.connections.allowDefaultPortFrom(this.clientSecurityGroup, 'HTTPS from the VPC functions');
    }
    this.nodeSecurityGroup.addIngressRule(
      this.nodeSecurityGroup,
      ec2.Port.tcp(config.raftPeerPort),
      'Raft peer traffic between nodes only',
    );
    this.nodeSecurityGroup.addIngressRule(
      this.clientSecurityGroup,
      ec2.Port.tcp(config.raftHttpPort),
      'Raft HTTP API from the execute and api functions',
    );
    // A joining node calls the bootstrap node's HTTP API (RAFT_JOIN_ADDR), and followers redirect to the leader.
    this.nodeSecurityGroup.addIngressRule(
      this.nodeSecurityGroup,
      ec2.Port.tcp(config.raftHttpPort),
      'Raft HTTP API between nodes (join, leader redirect)',
    );

    const fileSystemSecurityGroup = new ec2.SecurityGroup(this, 'RaftDataSecurityGroup', {
      vpc: this.vpc,
      description: 'EFS mount targets of the Raft data file system: NFS from the nodes only',
      allowAllOutbound: false,
    });
    fileSystemSecurityGroup.addIngressRule(this.nodeSecurityGroup, ec2.Port.tcp(2049), 'NFS from the Raft nodes');
    const fileSystem = new efs.FileSystem(this, 'RaftData', {
      vpc: this.vpc,
      vpcSubnets: privateSubnets,
      securityGroup: fileSystemSecurityGroup,
      encrypted: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: efs.ThroughputMode.BURSTING,
      enableAutomaticBackups: true,
      removalPolicy,
    });

    this.authSecret = new secretsmanager.Secret(this, 'RaftAuthSecret', {
      description: 'Shared secret from which Raft API and peer credentials are derived (RAFT_AUTH_SECRET)',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(this.authSecret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Every node and function must switch secrets together; rotation is a manual rolling restart ' +
          '(put a new value, then redeploy the three node services one at a time and the functions).',
      },
    ]);

    const namespace = new servicediscovery.PrivateDnsNamespace(this, 'RaftNamespace', {
      name: config.raftNamespace,
      vpc: this.vpc,
      description: 'Stable DNS names of the Raft nodes (n1, n2, n3)',
    });

    const cluster = new ecs.Cluster(this, 'RaftCluster', {
      vpc: this.vpc,
      containerInsightsV2: config.containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    if (!config.containerInsights) {
      NagSuppressions.addResourceSuppressions(cluster, [
        { id: 'AwsSolutions-ECS4', reason: 'Container Insights turned off by the containerInsights=false context.' },
      ]);
    }

    const arm = config.raftNodeArchitecture === 'arm64';
    const image = ecs.ContainerImage.fromAsset(REPO_ROOT, {
      file: 'raft-node/Dockerfile',
      exclude: RAFT_IMAGE_CONTEXT_EXCLUDES,
      platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
    });
    const containerLogGroup = new logs.LogGroup(this, 'RaftNodeLogGroup', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const memberHost = (nodeId: RaftNodeId) => `${nodeId}.${config.raftNamespace}`;
    const memberUrl = (nodeId: RaftNodeId) => `http://${memberHost(nodeId)}:${config.raftHttpPort}`;
    this.memberUrls = RAFT_NODE_IDS.map(memberUrl);
    const bootstrapNode: RaftNodeId = 'n1';

    const services: Partial<Record<RaftNodeId, ecs.FargateService>> = {};
    let previous: ecs.FargateService | undefined;
    for (const nodeId of RAFT_NODE_IDS) {
      const upper = nodeId.toUpperCase();
      const accessPoint = fileSystem.addAccessPoint(`${upper}AccessPoint`, {
        path: `/${nodeId}`,
        posixUser: { uid: String(config.raftNodeUid), gid: String(config.raftNodeUid) },
        createAcl: { ownerUid: String(config.raftNodeUid), ownerGid: String(config.raftNodeUid), permissions: '750' },
      });
      const taskDefinition = new ecs.FargateTaskDefinition(this, `${upper}TaskDefinition`, {
        family: `raft-${nodeId}`,
        cpu: config.raftNodeCpu,
        memoryLimitMiB: config.raftNodeMemoryMb,
        runtimePlatform: {
          operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
          cpuArchitecture: arm ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        },
        volumes: [
          {
            name: 'data',
            efsVolumeConfiguration: {
              fileSystemId: fileSystem.fileSystemId,
              transitEncryption: 'ENABLED',
              authorizationConfig: { accessPointId: accessPoint.accessPointId, iam: 'ENABLED' },
            },
          },
          // Task-local scratch space: the root file system is read-only.
          { name: 'tmp' },
        ],
      });
      // IAM-authorized mounts through this node's access point only.
      fileSystem.grant(taskDefinition.taskRole, 'elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite');
      const joinEnvironment: Record<string, string> =
        nodeId === bootstrapNode
          ? { RAFT_BOOTSTRAP: 'true' }
          : { RAFT_BOOTSTRAP: 'false', RAFT_JOIN_ADDR: memberUrl(bootstrapNode) };
      const container = taskDefinition.addContainer('raft-node', {
        containerName: 'raft-node',
        image,
        essential: true,
        environment: {
          RAFT_NODE_ID: nodeId,
          RAFT_DATA_DIR: config.raftDataDir,
          RAFT_BIND_ADDR: `0.0.0.0:${config.raftPeerPort}`,
          RAFT_ADVERTISE_ADDR: `${memberHost(nodeId)}:${config.raftPeerPort}`,
          PORT_HTTP: String(config.raftHttpPort),
          HTTP_BIND_HOST: '0.0.0.0',
          RAFT_HTTP_ADVERTISE_URL: memberUrl(nodeId),
          LOG_LEVEL: nodeLogLevel(config.logLevel),
          ...joinEnvironment,
        },
        secrets: { RAFT_AUTH_SECRET: ecs.Secret.fromSecretsManager(this.authSecret) },
        portMappings: [
          { name: 'raft', containerPort: config.raftPeerPort, protocol: ecs.Protocol.TCP },
          { name: 'http', containerPort: config.raftHttpPort, protocol: ecs.Protocol.TCP },
        ],
        // /readyz gates each node's deployment (the next service waits for it). A node without a leader is not
        // ready, so ECS replaces a task only after a minute of that, not during an ordinary election.
        healthCheck: {
          command: ['CMD', 'node', '-e', readyzProbe(config.raftHttpPort)],
          interval: Duration.seconds(10),
          timeout: Duration.seconds(5),
          retries: 6,
          startPeriod: Duration.seconds(60),
        },
        logging: ecs.LogDrivers.awsLogs({
          logGroup: containerLogGroup,
          streamPrefix: nodeId,
          mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        }),
        readonlyRootFilesystem: true,
        stopTimeout: Duration.seconds(30),
      });
      container.addMountPoints(
        { sourceVolume: 'data', containerPath: config.raftDataDir, readOnly: false },
        { sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false },
      );
      NagSuppressions.addResourceSuppressions(taskDefinition, [
        {
          id: 'AwsSolutions-ECS2',
          reason:
            'The environment holds only non-secret node settings (id, ports, DNS names, bootstrap/join); ' +
            'the auth secret is injected from Secrets Manager.',
        },
      ]);
      if (taskDefinition.executionRole) {
        NagSuppressions.addResourceSuppressions(
          taskDefinition.executionRole,
          [
            {
              id: 'AwsSolutions-IAM5',
              reason:
                'ecr:GetAuthorizationToken has no resource-level scoping (Resource "*"); ' +
                'image pulls, logs and the secret are scoped to their own ARNs.',
              appliesTo: ['Resource::*'],
            },
          ],
          true,
        );
      }

      const service = new ecs.FargateService(this, `${upper}Service`, {
        serviceName: `raft-${nodeId}`,
        cluster,
        taskDefinition,
        desiredCount: 1,
        // One task per identity: the old task stops before its replacement starts.
        minHealthyPercent: 0,
        maxHealthyPercent: 100,
        circuitBreaker: { enable: true, rollback: true },
        vpcSubnets: privateSubnets,
        securityGroups: [this.nodeSecurityGroup],
        assignPublicIp: false,
        cloudMapOptions: {
          cloudMapNamespace: namespace,
          name: nodeId,
          dnsRecordType: servicediscovery.DnsRecordType.A,
          dnsTtl: Duration.seconds(10),
        },
      });
      // CloudFormation updates a service only after the previous one is stable (its task healthy on /readyz),
      // so the nodes are created and replaced one at a time.
      if (previous) service.node.addDependency(previous);
      previous = service;
      services[nodeId] = service;
    }
    this.services = services as Record<RaftNodeId, ecs.FargateService>;
  }
}

/** The node knows debug/info/warn/error; the functions' finer levels map onto those. */
function nodeLogLevel(level: InfraConfig['logLevel']): 'debug' | 'info' | 'warn' | 'error' {
  switch (level) {
    case 'TRACE':
    case 'DEBUG':
      return 'debug';
    case 'INFO':
      return 'info';
    case 'WARN':
      return 'warn';
    default:
      return 'error';
  }
}

/** A probe that needs nothing but Node in the image: exit 0 only when /readyz answers 2xx. */
function readyzProbe(port: number): string {
  return (
    `fetch('http://127.0.0.1:${port}/readyz',{signal:AbortSignal.timeout(4000)})` +
    '.then(r=>process.exit(r.ok?0:1),()=>process.exit(1))'
  );
}
