import { rmSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { GroupedSecurityGroup, GroupingStack, ResourceGroup } from '../../../infra/constructs/logical-ids';
import { assemblyDir, buildTradingApp } from './app-harness';

/**
 * The logical ids of every resource that holds data or that CloudFormation cannot replace in place, as deployed
 * before the stacks were split into constructs. A changed logical id makes CloudFormation replace the resource:
 * a new empty table, stream or queue, a new EFS file system, a new secret (every node and function loses its
 * credentials), a failed update (an ingress rule "already exists", an export still imported). Add a new resource
 * here when you add one; never edit an existing line.
 */
const STATEFUL_TYPES = [
  'AWS::DynamoDB::Table',
  'AWS::Kinesis::Stream',
  'AWS::SQS::Queue',
  'AWS::SNS::Topic',
  'AWS::Logs::LogGroup',
  'AWS::EFS::FileSystem',
  'AWS::EFS::AccessPoint',
  'AWS::SecretsManager::Secret',
  'AWS::EC2::VPC',
  'AWS::EC2::SecurityGroup',
  'AWS::EC2::SecurityGroupIngress',
  'AWS::ServiceDiscovery::PrivateDnsNamespace',
  'AWS::ECS::Cluster',
];

const PIPELINE_STATEFUL: Record<string, string> = {
  TicksStream: 'AWS::Kinesis::Stream',
  CommandsQueue: 'AWS::SQS::Queue',
  CommandsDlq: 'AWS::SQS::Queue',
  EventsQueue: 'AWS::SQS::Queue',
  EventsDlq: 'AWS::SQS::Queue',
  ProcessFailureQueue: 'AWS::SQS::Queue',
  OrdersTable: 'AWS::DynamoDB::Table',
  StrategyStateTable: 'AWS::DynamoDB::Table',
  IngestLogGroup: 'AWS::Logs::LogGroup',
  ProcessLogGroup: 'AWS::Logs::LogGroup',
  ExecuteLogGroup: 'AWS::Logs::LogGroup',
  ApiLogGroup: 'AWS::Logs::LogGroup',
  HttpApiAccessLogGroupA66C8864: 'AWS::Logs::LogGroup',
  // Added with the order events fan-out (issue 13); AlarmTopic was there before, but SNS topics were not listed
  // until then. The order history's own table, queues and writer (HistoryQueue, HistoryDlq, OrderHistoryTable,
  // HistoryLogGroup) were removed on purpose when the history moved into OrdersTable's indexes (issue 10; the
  // table is retained on AWS, docs/deploy.md).
  AlarmTopicD01E77F9: 'AWS::SNS::Topic',
  EventsTopic: 'AWS::SNS::Topic',
  // Added with the WebSocket API (LiveDelivery, issue 13).
  WebSocketAccessLogGroupEE932001: 'AWS::Logs::LogGroup',
  WsAuthorizerLogGroup: 'AWS::Logs::LogGroup',
  WsConnectionLogGroup: 'AWS::Logs::LogGroup',
  WsNotifierLogGroup: 'AWS::Logs::LogGroup',
  WsConnectionsTable: 'AWS::DynamoDB::Table',
  WsDeliveryLogTable: 'AWS::DynamoDB::Table',
  WsSubscriptionsTable: 'AWS::DynamoDB::Table',
  WsOrderEventsQueue: 'AWS::SQS::Queue',
  WsOrderEventsDlq: 'AWS::SQS::Queue',
  WsAccountUpdatesQueue: 'AWS::SQS::Queue',
  WsAccountUpdatesDlq: 'AWS::SQS::Queue',
  TicksTable: 'AWS::DynamoDB::Table',
  CandlesTable: 'AWS::DynamoDB::Table',
  MarketDataFailureQueue: 'AWS::SQS::Queue',
  MarketDataLogGroup: 'AWS::Logs::LogGroup',
  MarketDataApiLogGroup: 'AWS::Logs::LogGroup',
  OrdersLogGroup: 'AWS::Logs::LogGroup',
  AdminLogGroup: 'AWS::Logs::LogGroup',
};

const CLUSTER_STATEFUL: Record<string, string> = {
  Vpc8378EB38: 'AWS::EC2::VPC',
  VpcFlowLogGroup86559C69: 'AWS::Logs::LogGroup',
  RaftNodeLogGroup7317CB27: 'AWS::Logs::LogGroup',
  RaftDataDCAC85DB: 'AWS::EFS::FileSystem',
  RaftDataN1AccessPointE8917E1F: 'AWS::EFS::AccessPoint',
  RaftDataN2AccessPoint1AFDADF0: 'AWS::EFS::AccessPoint',
  RaftDataN3AccessPointDAE33060: 'AWS::EFS::AccessPoint',
  RaftAuthSecret49973ABD: 'AWS::SecretsManager::Secret',
  RaftPeerSecret34FEA674: 'AWS::SecretsManager::Secret',
  RaftClientKeysOrdersWriteD748D35A: 'AWS::SecretsManager::Secret',
  RaftClientKeysRead108F87E6: 'AWS::SecretsManager::Secret',
  RaftClientKeysAdmin84BD6137: 'AWS::SecretsManager::Secret',
  RaftClientKeysIssuerLogGroup973E5AF1: 'AWS::Logs::LogGroup',
  RaftClientKeysProviderLogGroup4D632F59: 'AWS::Logs::LogGroup',
  RaftNamespaceC1047E42: 'AWS::ServiceDiscovery::PrivateDnsNamespace',
  RaftCluster9A7B14D2: 'AWS::ECS::Cluster',
  RaftNodeSecurityGroup4DF0CC90: 'AWS::EC2::SecurityGroup',
  RaftClientSecurityGroup2F1EA5B6: 'AWS::EC2::SecurityGroup',
  RaftDataSecurityGroupB9EC4E91: 'AWS::EC2::SecurityGroup',
  VpcEcrApiEndpointSecurityGroupA45F6D9E: 'AWS::EC2::SecurityGroup',
  VpcEcrDockerEndpointSecurityGroup5D41A216: 'AWS::EC2::SecurityGroup',
  VpcKinesisEndpointSecurityGroupBC57DE1B: 'AWS::EC2::SecurityGroup',
  VpcLogsEndpointSecurityGroup09D326E8: 'AWS::EC2::SecurityGroup',
  VpcSecretsManagerEndpointSecurityGroup9A5498C7: 'AWS::EC2::SecurityGroup',
  VpcSqsEndpointSecurityGroup77E600AF: 'AWS::EC2::SecurityGroup',
  RaftDataSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B20495FE45F63: 'AWS::EC2::SecurityGroupIngress',
  RaftNodeSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC93708080287DBF69:
    'AWS::EC2::SecurityGroupIngress',
  // Added with the binary client protocol (raftClientPort).
  RaftNodeSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC9370809003806D1A:
    'AWS::EC2::SecurityGroupIngress',
  RaftNodeSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B7000A35B6F6B: 'AWS::EC2::SecurityGroupIngress',
  RaftNodeSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B808024ED9C41: 'AWS::EC2::SecurityGroupIngress',
  VpcEcrApiEndpointSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC9370443897B5FAD:
    'AWS::EC2::SecurityGroupIngress',
  VpcEcrApiEndpointSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B4433A072402:
    'AWS::EC2::SecurityGroupIngress',
  VpcEcrDockerEndpointSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC9370443845A70AD:
    'AWS::EC2::SecurityGroupIngress',
  VpcEcrDockerEndpointSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B44350336BFC:
    'AWS::EC2::SecurityGroupIngress',
  VpcKinesisEndpointSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC93704433E54E15B:
    'AWS::EC2::SecurityGroupIngress',
  VpcKinesisEndpointSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B44380CAC6F0:
    'AWS::EC2::SecurityGroupIngress',
  VpcLogsEndpointSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC93704431A27F9E9:
    'AWS::EC2::SecurityGroupIngress',
  VpcLogsEndpointSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B443A2B43A9B:
    'AWS::EC2::SecurityGroupIngress',
  VpcSecretsManagerEndpointSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC9370443FD4F17FB:
    'AWS::EC2::SecurityGroupIngress',
  VpcSecretsManagerEndpointSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B44334707DF4:
    'AWS::EC2::SecurityGroupIngress',
  VpcSqsEndpointSecurityGroupfromRaftClusterStackRaftClientSecurityGroupF3BC93704436E908EF9:
    'AWS::EC2::SecurityGroupIngress',
  VpcSqsEndpointSecurityGroupfromRaftClusterStackRaftNodeSecurityGroup6FC4B17B4434A8EE845:
    'AWS::EC2::SecurityGroupIngress',
};

/** The exports PipelineStack imports: CloudFormation refuses to change an export another stack uses. */
const CLUSTER_EXPORTS = [
  // Kept explicitly (raft-cluster-stack.ts) for PipelineStacks deployed before the functions got scoped keys.
  'RaftClusterStack:ExportsOutputRefRaftAuthSecret49973ABD16316F3A',
  'RaftClusterStack:ExportsOutputRefRaftClientKeysOrdersWriteD748D35A3C8F8E55',
  'RaftClusterStack:ExportsOutputRefRaftClientKeysRead108F87E6F21C692B',
  'RaftClusterStack:ExportsOutputRefRaftClientKeysAdmin84BD613787C422AF',
  'RaftClusterStack:ExportsOutputRefVpcprivateSubnet1SubnetCEAD37168693D373',
  'RaftClusterStack:ExportsOutputRefVpcprivateSubnet2Subnet2DE7549CDF5ACE3D',
  'RaftClusterStack:ExportsOutputFnGetAttRaftClientSecurityGroup2F1EA5B6GroupId9493F8DF',
];

type Resources = Record<string, { Type: string }>;
const statefulOf = (template: Template): Record<string, string> =>
  Object.fromEntries(
    Object.entries(template.toJSON().Resources as Resources)
      .filter(([, resource]) => STATEFUL_TYPES.includes(resource.Type))
      .map(([logicalId, resource]) => [logicalId, resource.Type]),
  );

const outdir = assemblyDir();
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('stateful resources keep their logical ids', () => {
  const aws = buildTradingApp({ target: 'aws' }, outdir);
  const pipeline = Template.fromStack(aws.pipeline);
  if (!aws.raftCluster) throw new Error('target aws deploys RaftClusterStack');
  const cluster = Template.fromStack(aws.raftCluster);

  it('PipelineStack (target aws)', () => {
    expect(statefulOf(pipeline)).toEqual(PIPELINE_STATEFUL);
  });

  it('PipelineStack (target localstack, nodes from compose)', () => {
    const local = buildTradingApp({ target: 'localstack', raftAuthSecret: 'compose-secret-0123456789' }, outdir);
    expect(statefulOf(Template.fromStack(local.pipeline))).toEqual(PIPELINE_STATEFUL);
  });

  it('RaftClusterStack, with the exports PipelineStack imports', () => {
    expect(statefulOf(cluster)).toEqual(CLUSTER_STATEFUL);
    const outputs = cluster.toJSON().Outputs as Record<string, { Export?: { Name: string } }>;
    const exportNames = Object.values(outputs).flatMap((output) => (output.Export ? [output.Export.Name] : []));
    expect(exportNames.sort()).toEqual([...CLUSTER_EXPORTS].sort());
  });

  it('while the resources live in constructs with one job each', () => {
    const { execution, ingestion } = aws.pipeline;
    expect(execution.ordersTable.node.path).toBe('PipelineStack/OrderExecution/OrdersTable');
    expect(ingestion.stream.node.path).toBe('PipelineStack/TickIngestion/TicksStream');
    expect(aws.raftCluster?.securityGroups.nodes.node.path).toBe(
      'RaftClusterStack/SecurityGroups/RaftNodeSecurityGroup',
    );
  });
});

describe('ResourceGroup in a GroupingStack', () => {
  // Ids only: CDK's CloudFormation validation (~3 s of CPU an app) runs on the real app in synth.test.ts.
  const app = () => new App({ builtinCloudFormationValidation: false });
  const grouped = () => {
    const stack = new GroupingStack(app(), 'S');
    return { stack, group: new ResourceGroup(stack, 'Group') };
  };
  const plain = () => new Stack(app(), 'S');

  it('leaves the logical ids of the resources below it as if it were not there', () => {
    const { stack, group } = grouped();
    new sqs.Queue(new ResourceGroup(group, 'Nested'), 'Queue');
    const reference = plain();
    new sqs.Queue(reference, 'Queue');
    const ids = (s: Stack) => Object.keys(Template.fromStack(s).toJSON().Resources as Resources);
    expect(ids(stack)).toEqual(ids(reference));
  });

  it('fails the synth when two groups would give two resources one logical id', () => {
    const { stack, group } = grouped();
    new sqs.Queue(group, 'Queue');
    new sqs.Queue(new ResourceGroup(stack, 'Other'), 'Queue');
    expect(() => Template.fromStack(stack)).toThrow(/already contains/);
  });

  it('gives a GroupedSecurityGroup the unique id (and so its peers’ rule ids) it would have ungrouped', () => {
    const { stack, group } = grouped();
    const vpc = new ec2.Vpc(stack, 'Vpc');
    const reference = plain();
    const referenceVpc = new ec2.Vpc(reference, 'Vpc');
    expect(new GroupedSecurityGroup(group, 'Sg', { vpc }).uniqueId).toBe(
      new ec2.SecurityGroup(reference, 'Sg', { vpc: referenceVpc }).uniqueId,
    );
    // A plain group's unique id names the ResourceGroup (S + Group + Plain): the rules naming it would move.
    expect(new ec2.SecurityGroup(group, 'Plain', { vpc }).uniqueId).toMatch(/^SGroupPlain[0-9A-F]{8}$/);
  });
});
