import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadInfraConfig } from '../../../infra/config';
import { RaftClusterStack } from '../../../infra/raft-cluster-stack';
import { FEATURE_FLAGS } from '../../../infra/stacks';
import { nagSuppressions, unresolvedNagFindings } from './app-harness';

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[]; DeletionPolicy?: string };

// The cluster stack on its own (it does not depend on the PipelineStack): no function bundling needed here.
const outdir = mkdtempSync(path.join(tmpdir(), 'infra-raft-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));
// CDK's CloudFormation validation runs on this stack in synth.test.ts (the aws target's whole app), not again here.
const app = new App({
  outdir,
  builtinCloudFormationValidation: false,
  context: { ...FEATURE_FLAGS, target: 'aws' },
});
const stack = new RaftClusterStack(app, 'RaftClusterStack', { config: loadInfraConfig(app.node) });
Aspects.of(app).add(new AwsSolutionsChecks());
const template = Template.fromStack(stack);
const resources = template.toJSON().Resources as Record<string, Resource>;
const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
const logicalIdOf = (prefix: string, type: string): string => {
  const found = ofType(type).find(([id]) => id.startsWith(prefix));
  if (!found) throw new Error(`no ${type} named ${prefix}*`);
  return found[0];
};
const NODES = ['n1', 'n2', 'n3'] as const;

describe('RaftClusterStack', () => {
  it('builds a VPC of private isolated subnets with no NAT gateway or internet gateway', () => {
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::EC2::Subnet', 2);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::EIP', 0);
    for (const [, subnet] of ofType('AWS::EC2::Subnet')) expect(subnet.Properties.MapPublicIpOnLaunch).toBe(false);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT' });
  });

  it('has the gateway and interface endpoints the tasks and VPC functions need', () => {
    const serviceNames = ofType('AWS::EC2::VPCEndpoint').map(([, endpoint]) => {
      const name = JSON.stringify(endpoint.Properties.ServiceName);
      return `${String(endpoint.Properties.VpcEndpointType)} ${name.slice(name.lastIndexOf('.') + 1).replace(/\W+$/, '')}`;
    });
    expect(serviceNames.sort()).toEqual([
      'Gateway dynamodb',
      'Gateway s3',
      'Interface api',
      'Interface dkr',
      'Interface kinesis-streams',
      'Interface logs',
      'Interface secretsmanager',
      'Interface sqs',
    ]);
    for (const [, endpoint] of ofType('AWS::EC2::VPCEndpoint')) {
      if (endpoint.Properties.VpcEndpointType === 'Interface') {
        expect(endpoint.Properties.PrivateDnsEnabled).toBe(true);
        expect(endpoint.Properties.SubnetIds).toHaveLength(2);
      } else {
        expect(endpoint.Properties.RouteTableIds).toHaveLength(2);
      }
    }
  });

  it('runs one Fargate service of exactly one task per node; the old task stops before the new one starts', () => {
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    template.resourceCountIs('AWS::ECS::Service', 3);
    for (const nodeId of NODES) {
      template.hasResourceProperties('AWS::ECS::Service', {
        ServiceName: `raft-${nodeId}`,
        LaunchType: 'FARGATE',
        DesiredCount: 1,
        DeploymentConfiguration: {
          MinimumHealthyPercent: 0,
          MaximumPercent: 100,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        },
        NetworkConfiguration: {
          AwsvpcConfiguration: Match.objectLike({
            AssignPublicIp: 'DISABLED',
            SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^RaftNodeSecurityGroup'), 'GroupId'] }],
          }),
        },
        // An A record per task: the node's own IP under its stable name.
        ServiceRegistries: [
          { RegistryArn: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${nodeId.toUpperCase()}Service`), 'Arn'] } },
        ],
      });
    }
  });

  it('orders the services so CloudFormation creates and updates them one at a time (n1, then n2, then n3)', () => {
    const n1 = logicalIdOf('N1Service', 'AWS::ECS::Service');
    const n2 = logicalIdOf('N2Service', 'AWS::ECS::Service');
    const n3 = logicalIdOf('N3Service', 'AWS::ECS::Service');
    expect(resources[n1]?.DependsOn ?? []).not.toEqual(expect.arrayContaining([n2, n3]));
    expect(resources[n2]?.DependsOn).toEqual(expect.arrayContaining([n1]));
    expect(resources[n3]?.DependsOn).toEqual(expect.arrayContaining([n2]));
  });

  it('gives each node an encrypted EFS access point of its own as its data dir', () => {
    template.resourceCountIs('AWS::EFS::FileSystem', 1);
    template.hasResourceProperties('AWS::EFS::FileSystem', { Encrypted: true });
    expect(resources[logicalIdOf('RaftData', 'AWS::EFS::FileSystem')]?.DeletionPolicy).toBe('Retain');
    template.resourceCountIs('AWS::EFS::AccessPoint', 3);
    for (const nodeId of NODES) {
      template.hasResourceProperties('AWS::EFS::AccessPoint', {
        RootDirectory: {
          Path: `/${nodeId}`,
          CreationInfo: { OwnerUid: '1000', OwnerGid: '1000', Permissions: '750' },
        },
        PosixUser: { Uid: '1000', Gid: '1000' },
      });
      const accessPoint = logicalIdOf(`RaftData${nodeId.toUpperCase()}AccessPoint`, 'AWS::EFS::AccessPoint');
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: `raft-${nodeId}`,
        Volumes: Match.arrayWith([
          {
            Name: 'data',
            EFSVolumeConfiguration: {
              FilesystemId: { Ref: logicalIdOf('RaftData', 'AWS::EFS::FileSystem') },
              TransitEncryption: 'ENABLED',
              AuthorizationConfig: { AccessPointId: { Ref: accessPoint }, IAM: 'ENABLED' },
            },
          },
        ]),
        ContainerDefinitions: [
          Match.objectLike({
            MountPoints: Match.arrayWith([{ SourceVolume: 'data', ContainerPath: '/data', ReadOnly: false }]),
          }),
        ],
      });
    }
  });

  it('gives every node the same env on every start: n1 new, n2/n3 existing, the peers by Cloud Map name', () => {
    for (const nodeId of NODES) {
      const peers = NODES.filter((id) => id !== nodeId).map((id) => `http://${id}.raft.internal:8080`);
      const join = [
        { Name: 'RAFT_INITIAL_CLUSTER_STATE', Value: nodeId === 'n1' ? 'new' : 'existing' },
        { Name: 'RAFT_PEERS', Value: peers.join(',') },
        { Name: 'RAFT_CLUSTER_ID', Value: 'trading-ledger' },
      ];
      template.hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: `raft-${nodeId}`,
        Cpu: '256',
        Memory: '512',
        RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
        ContainerDefinitions: [
          Match.objectLike({
            Environment: Match.arrayWith([
              { Name: 'RAFT_NODE_ID', Value: nodeId },
              { Name: 'RAFT_DATA_DIR', Value: '/data' },
              { Name: 'RAFT_BIND_ADDR', Value: '0.0.0.0:7000' },
              { Name: 'RAFT_ADVERTISE_ADDR', Value: `${nodeId}.raft.internal:7000` },
              { Name: 'PORT_CLIENT', Value: '8090' },
              { Name: 'HTTP_BIND_HOST', Value: '0.0.0.0' },
              { Name: 'RAFT_HTTP_ADVERTISE_URL', Value: `http://${nodeId}.raft.internal:8080` },
              ...join,
            ]),
          }),
        ],
      });
    }
  });

  it('passes the root and the peer secret from Secrets Manager, logs to CloudWatch and health-checks /healthz (liveness gates the ordered rollout)', () => {
    // Root, peer, and one key per function scope.
    template.resourceCountIs('AWS::SecretsManager::Secret', 5);
    const secret = logicalIdOf('RaftAuthSecret', 'AWS::SecretsManager::Secret');
    const peerSecret = logicalIdOf('RaftPeerSecret', 'AWS::SecretsManager::Secret');
    for (const id of [secret, peerSecret]) {
      expect(resources[id]?.Properties.GenerateSecretString).toMatchObject({ PasswordLength: 48 });
    }
    for (const [, taskDefinition] of ofType('AWS::ECS::TaskDefinition')) {
      const [container] = taskDefinition.Properties.ContainerDefinitions as Record<string, unknown>[];
      expect(container).toMatchObject({
        Essential: true,
        ReadonlyRootFilesystem: true,
        Secrets: [
          { Name: 'RAFT_AUTH_SECRET', ValueFrom: { Ref: secret } },
          { Name: 'RAFT_PEER_SECRET', ValueFrom: { Ref: peerSecret } },
        ],
        LogConfiguration: { LogDriver: 'awslogs', Options: expect.objectContaining({ mode: 'non-blocking' }) },
        HealthCheck: { Interval: 10, Timeout: 5, Retries: 6, StartPeriod: 60 },
      });
      const command = (container?.HealthCheck as { Command: string[] }).Command;
      expect(command.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(command[3]).toContain('http://127.0.0.1:8080/healthz');
      expect(JSON.stringify(container?.Environment)).not.toMatch(/RAFT_AUTH_SECRET|RAFT_PEER_SECRET/);
    }
  });

  it('issues one key per function scope from the root secret; only the nodes and the issuer read the root secret', () => {
    const keys = {
      'orders:write': logicalIdOf('RaftClientKeysOrdersWrite', 'AWS::SecretsManager::Secret'),
      read: logicalIdOf('RaftClientKeysRead', 'AWS::SecretsManager::Secret'),
      admin: logicalIdOf('RaftClientKeysAdmin', 'AWS::SecretsManager::Secret'),
    };
    const root = logicalIdOf('RaftAuthSecret', 'AWS::SecretsManager::Secret');
    const peer = logicalIdOf('RaftPeerSecret', 'AWS::SecretsManager::Secret');
    template.hasResourceProperties('Custom::RaftClientKeys', {
      RootSecretArn: { Ref: root },
      Keys: {
        'orders:write': { Ref: keys['orders:write'] },
        read: { Ref: keys.read },
        admin: { Ref: keys.admin },
      },
      Revision: '1',
    });
    // Issued after every node service is deployed: in a rotation, no function gets a key a node cannot check yet.
    const [[, issue]] = ofType('Custom::RaftClientKeys') as [[string, Resource]];
    for (const [serviceId] of ofType('AWS::ECS::Service')) expect(issue.DependsOn).toContain(serviceId);
    // Which roles may touch which secret: the root secret is read by the node tasks' execution roles (to inject
    // it) and the issuer alone, the peer secret by the execution roles alone; the issuer writes the two keys.
    const readers = new Map<string, Set<string>>();
    for (const [, policy] of ofType('AWS::IAM::Policy')) {
      const roles = (policy.Properties.Roles as { Ref: string }[]).map((role) => role.Ref);
      const statements = (policy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
      for (const statement of statements) {
        const actions = ([] as string[]).concat(statement.Action as string | string[]);
        if (!actions.some((action) => action.startsWith('secretsmanager:'))) continue;
        for (const id of [root, peer, ...Object.values(keys)]) {
          if (!JSON.stringify(statement.Resource).includes(`"${id}"`)) continue;
          for (const role of roles)
            readers.set(id, new Set([...(readers.get(id) ?? []), `${role} ${actions.join(',')}`]));
        }
      }
    }
    const rolesOf = (id: string) => [...(readers.get(id) ?? [])].map((entry) => entry.split(' ')[0]!);
    const executionRoles = ofType('AWS::ECS::TaskDefinition').map(
      ([, td]) => (td.Properties.ExecutionRoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0],
    );
    const issuer = logicalIdOf('RaftClientKeysIssuerRole', 'AWS::IAM::Role');
    expect(rolesOf(root).sort()).toEqual([...executionRoles, issuer].sort());
    expect(rolesOf(peer).sort()).toEqual([...executionRoles].sort());
    for (const key of Object.values(keys)) {
      expect(rolesOf(key)).toEqual([issuer]);
      expect([...readers.get(key)!][0]).not.toContain('GetSecretValue');
    }
  });

  it('during a rotation also injects the previous value of the rotated secret (AWSPREVIOUS), and only then', () => {
    const rotatingApp = new App({
      outdir,
      builtinCloudFormationValidation: false,
      context: { ...FEATURE_FLAGS, target: 'aws', raftSecretRotation: 'auth' },
    });
    const rotating = Template.fromStack(
      new RaftClusterStack(rotatingApp, 'RaftClusterStack', { config: loadInfraConfig(rotatingApp.node) }),
    );
    const secretsOf = (t: Template) =>
      Object.values(t.findResources('AWS::ECS::TaskDefinition')).map((td) => {
        const [container] = (td as Resource).Properties.ContainerDefinitions as { Secrets: { Name: string }[] }[];
        return container!.Secrets;
      });
    for (const secrets of secretsOf(template)) {
      expect(secrets.map((s) => s.Name)).toEqual(['RAFT_AUTH_SECRET', 'RAFT_PEER_SECRET']);
    }
    for (const secrets of secretsOf(rotating)) {
      expect(secrets.map((s) => s.Name)).toEqual(['RAFT_AUTH_SECRET', 'RAFT_PEER_SECRET', 'RAFT_AUTH_SECRET_PREVIOUS']);
      expect(JSON.stringify(secrets[2])).toContain('AWSPREVIOUS');
    }
  });

  it('registers n1..n3 in a private DNS namespace', () => {
    template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'raft.internal' });
    template.resourceCountIs('AWS::ServiceDiscovery::Service', 3);
    for (const nodeId of NODES) {
      template.hasResourceProperties('AWS::ServiceDiscovery::Service', {
        Name: nodeId,
        DnsConfig: Match.objectLike({ DnsRecords: [{ Type: 'A', TTL: 10 }] }),
      });
    }
    expect(stack.memberUrls).toEqual([
      'http://n1.raft.internal:8080',
      'http://n2.raft.internal:8080',
      'http://n3.raft.internal:8080',
    ]);
  });

  it('allows Raft traffic only between nodes and the HTTP API only from clients (and peers for join)', () => {
    const nodeSg = logicalIdOf('RaftNodeSecurityGroup', 'AWS::EC2::SecurityGroup');
    const clientSg = logicalIdOf('RaftClientSecurityGroup', 'AWS::EC2::SecurityGroup');
    const dataSg = logicalIdOf('RaftDataSecurityGroup', 'AWS::EC2::SecurityGroup');
    const ingress = ofType('AWS::EC2::SecurityGroupIngress').map(([, rule]) => rule.Properties);
    const into = (groupId: string) =>
      ingress
        .filter((rule) => JSON.stringify(rule.GroupId).includes(`"${groupId}"`))
        .map(
          (rule) =>
            `${String(rule.FromPort)}-${String(rule.ToPort)} from ${JSON.stringify(rule.SourceSecurityGroupId)}`,
        );
    const from = (groupId: string) => JSON.stringify({ 'Fn::GetAtt': [groupId, 'GroupId'] });
    expect(into(nodeSg).sort()).toEqual(
      [
        `7000-7000 from ${from(nodeSg)}`,
        `8080-8080 from ${from(clientSg)}`,
        `8080-8080 from ${from(nodeSg)}`,
        `8090-8090 from ${from(clientSg)}`,
      ].sort(),
    );
    expect(into(dataSg)).toEqual([`2049-2049 from ${from(nodeSg)}`]);
    // Nothing is open to an address range, let alone the internet.
    for (const [, group] of ofType('AWS::EC2::SecurityGroup')) {
      for (const rule of (group.Properties.SecurityGroupIngress as { CidrIp?: string }[] | undefined) ?? []) {
        expect(rule.CidrIp).toBeUndefined();
      }
    }
    for (const rule of ingress) expect(rule.CidrIp).toBeUndefined();
  });

  it('builds the node image from raft-node/Dockerfile with the repository root as context', () => {
    const assembly = app.synth();
    const assetManifest = JSON.parse(
      readFileSync(path.join(assembly.directory, 'RaftClusterStack.assets.json'), 'utf8'),
    ) as { dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }> };
    const images = Object.values(assetManifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]?.source).toMatchObject({ dockerFile: 'raft-node/Dockerfile', platform: 'linux/arm64' });
    // The staged build context holds only what the Dockerfile copies.
    const staged = readdirSync(path.join(assembly.directory, images[0]?.source.directory ?? '')).sort();
    expect(staged).toEqual([
      '.dockerignore',
      'package-lock.json',
      'package.json',
      'raft-node',
      'shared',
      'tsconfig.json',
    ]);
  });

  it('has no unresolved cdk-nag AwsSolutions finding, and every suppression gives its reason', () => {
    expect(unresolvedNagFindings(stack)).toEqual([]);
    for (const suppression of nagSuppressions(template)) expect(suppression.reason.length).toBeGreaterThan(30);
  });
});
