import { Duration } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as servicediscovery from 'aws-cdk-lib/aws-servicediscovery';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import type { RaftDataFileSystem } from './raft-data';
import type { RaftNetwork, RaftSecurityGroups } from './raft-network';
import type { RaftNodeRuntime } from './raft-node-runtime';

export const RAFT_NODE_IDS = ['n1', 'n2', 'n3'] as const;
export type RaftNodeId = (typeof RAFT_NODE_IDS)[number];

/**
 * The node configured with RAFT_INITIAL_CLUSTER_STATE=new. It forms the cluster only on its very first start,
 * after every peer answered and none belongs to a cluster; with an empty data dir later (a lost volume, a
 * replaced task) it rejoins as a new incarnation instead (docs/ledger.md). The same env is safe on every start.
 */
const BOOTSTRAP_NODE: RaftNodeId = 'n1';

/** A node's stable Cloud Map DNS name. */
const memberHost = (config: InfraConfig, nodeId: RaftNodeId) => `${nodeId}.${config.raftNamespace}`;

/** A member's HTTP base URL (its Cloud Map DNS name), as in RAFT_MEMBERS. */
export const raftMemberUrl = (config: InfraConfig, nodeId: RaftNodeId) =>
  `http://${memberHost(config, nodeId)}:${config.raftHttpPort}`;

/**
 * The environment of node `nodeId`'s container — the one place for a node's settings, bootstrap/join included.
 * The auth secret is not here: it is injected from Secrets Manager (RaftNodeService).
 */
export function raftNodeEnvironment(config: InfraConfig, nodeId: RaftNodeId): Record<string, string> {
  const peers = RAFT_NODE_IDS.filter((id) => id !== nodeId).map((id) => raftMemberUrl(config, id));
  const joinEnvironment: Record<string, string> = {
    RAFT_INITIAL_CLUSTER_STATE: nodeId === BOOTSTRAP_NODE ? 'new' : 'existing',
    RAFT_PEERS: peers.join(','),
    // A node given another cluster's volume refuses to start instead of joining.
    RAFT_CLUSTER_ID: config.raftClusterId,
  };
  return {
    RAFT_NODE_ID: nodeId,
    RAFT_DATA_DIR: config.raftDataDir,
    RAFT_BIND_ADDR: `0.0.0.0:${config.raftPeerPort}`,
    RAFT_ADVERTISE_ADDR: `${memberHost(config, nodeId)}:${config.raftPeerPort}`,
    PORT_HTTP: String(config.raftHttpPort),
    PORT_CLIENT: String(config.raftClientPort),
    HTTP_BIND_HOST: '0.0.0.0',
    RAFT_HTTP_ADVERTISE_URL: raftMemberUrl(config, nodeId),
    LOG_LEVEL: nodeLogLevel(config.logLevel),
    ...joinEnvironment,
  };
}

export interface RaftNodeServiceProps {
  config: InfraConfig;
  nodeId: RaftNodeId;
  network: RaftNetwork;
  securityGroups: RaftSecurityGroups;
  data: RaftDataFileSystem;
  runtime: RaftNodeRuntime;
  authSecret: secretsmanager.ISecret;
  /** RAFT_PEER_SECRET: the peer handshake key's source, never given to a client. */
  peerSecret: secretsmanager.ISecret;
  /** The previous node's service: this one is created and replaced only once that one is stable. */
  after?: ecs.FargateService;
}

/**
 * One Raft node: a single-task Fargate service with its own EFS access point as data dir, its Cloud Map name, and
 * a read-only root file system. Its resources keep the ids they had as direct children of the stack
 * (`N1TaskDefinition`, `N1Service`, …), which their logical ids derive from.
 */
export class RaftNodeService extends ResourceGroup {
  readonly service: ecs.FargateService;

  constructor(scope: Construct, id: string, props: RaftNodeServiceProps) {
    super(scope, id);
    const { nodeId, network, securityGroups, runtime } = props;
    const upper = nodeId.toUpperCase();
    const taskDefinition = this.taskDefinition(`${upper}TaskDefinition`, props);
    this.service = new ecs.FargateService(this, `${upper}Service`, {
      serviceName: `raft-${nodeId}`,
      cluster: runtime.cluster,
      taskDefinition,
      desiredCount: 1,
      // One task per identity: the old task stops before its replacement starts.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: true },
      vpcSubnets: network.clusterSubnets,
      securityGroups: [securityGroups.nodes],
      assignPublicIp: false,
      cloudMapOptions: {
        cloudMapNamespace: runtime.namespace,
        name: nodeId,
        dnsRecordType: servicediscovery.DnsRecordType.A,
        dnsTtl: Duration.seconds(10),
      },
    });
    // CloudFormation updates a service only after the previous one is stable (its task healthy on /healthz),
    // so the nodes are created and replaced one at a time.
    if (props.after) this.service.node.addDependency(props.after);
  }

  private taskDefinition(id: string, { config, nodeId, data, runtime, authSecret, peerSecret }: RaftNodeServiceProps) {
    const accessPoint = data.addNodeAccessPoint(nodeId);
    const taskDefinition = new ecs.FargateTaskDefinition(this, id, {
      family: `raft-${nodeId}`,
      cpu: config.raftNodeCpu,
      memoryLimitMiB: config.raftNodeMemoryMb,
      runtimePlatform: {
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
        cpuArchitecture:
          config.raftNodeArchitecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      },
      volumes: [
        {
          name: 'data',
          efsVolumeConfiguration: {
            fileSystemId: data.fileSystemId,
            transitEncryption: 'ENABLED',
            authorizationConfig: { accessPointId: accessPoint.accessPointId, iam: 'ENABLED' },
          },
        },
        // Task-local scratch space: the root file system is read-only.
        { name: 'tmp' },
      ],
    });
    // IAM-authorized mounts through this node's access point only.
    data.grant(taskDefinition.taskRole, 'elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite');
    const container = taskDefinition.addContainer('raft-node', {
      containerName: 'raft-node',
      image: runtime.image,
      essential: true,
      environment: raftNodeEnvironment(config, nodeId),
      secrets: nodeSecrets(config, authSecret, peerSecret),
      portMappings: [
        { name: 'raft', containerPort: config.raftPeerPort, protocol: ecs.Protocol.TCP },
        { name: 'http', containerPort: config.raftHttpPort, protocol: ecs.Protocol.TCP },
        { name: 'client', containerPort: config.raftClientPort, protocol: ecs.Protocol.TCP },
      ],
      // Liveness (/healthz: the process serves HTTP) gates each node's deployment (the next service waits for
      // it). Not /readyz: on the very first deploy n1 waits for n2 and n3 to answer before it forms the cluster,
      // so no node has a leader until all three run — gating on readiness would deadlock the ordered rollout.
      healthCheck: {
        command: ['CMD', 'node', '-e', healthzProbe(config.raftHttpPort)],
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        retries: 6,
        startPeriod: Duration.seconds(60),
      },
      logging: ecs.LogDrivers.awsLogs({
        logGroup: runtime.logGroup,
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
    suppressTaskFindings(taskDefinition);
    return taskDefinition;
  }
}

/** The node's secrets: root and peer, and during a rotation the previous value of the one(s) being rotated. */
function nodeSecrets(
  config: InfraConfig,
  authSecret: secretsmanager.ISecret,
  peerSecret: secretsmanager.ISecret,
): Record<string, ecs.Secret> {
  const rotating = config.raftSecretRotation;
  const previous = (secret: secretsmanager.ISecret) =>
    ecs.Secret.fromSecretsManagerVersion(secret, { versionStage: 'AWSPREVIOUS' });
  return {
    RAFT_AUTH_SECRET: ecs.Secret.fromSecretsManager(authSecret),
    RAFT_PEER_SECRET: ecs.Secret.fromSecretsManager(peerSecret),
    ...(rotating === 'auth' || rotating === 'both' ? { RAFT_AUTH_SECRET_PREVIOUS: previous(authSecret) } : {}),
    ...(rotating === 'peer' || rotating === 'both' ? { RAFT_PEER_SECRET_PREVIOUS: previous(peerSecret) } : {}),
  };
}

function suppressTaskFindings(taskDefinition: ecs.FargateTaskDefinition): void {
  NagSuppressions.addResourceSuppressions(taskDefinition, [
    {
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds only non-secret node settings (id, ports, DNS names, bootstrap/join); ' +
        'the auth and peer secrets are injected from Secrets Manager.',
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

/** A probe that needs nothing but Node in the image: exit 0 only when /healthz answers 2xx. */
function healthzProbe(port: number): string {
  return (
    `fetch('http://127.0.0.1:${port}/healthz',{signal:AbortSignal.timeout(4000)})` +
    '.then(r=>process.exit(r.ok?0:1),()=>process.exit(1))'
  );
}
