import * as path from 'node:path';
import { CfnResource, RemovalPolicy, type Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { bundleAssetHash } from './bundle-hash';
import { named } from './logical-ids';

export const FUNCTION_NAMES = [
  'ingest',
  'process',
  'execute',
  'api',
  'ws-authorizer',
  'ws-connection',
  'ws-notifier',
  'market-data',
  'market-data-api',
  'orders',
  'admin',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export const METRICS_NAMESPACE = 'TradingPipeline';
const FUNCTIONS_DIR = path.resolve(__dirname, '..', '..', 'functions');

/** Where a function that calls the Raft ledger runs when the app deploys the cluster (its VPC). */
export interface FunctionVpcPlacement {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  securityGroups: ec2.ISecurityGroup[];
}

export interface PipelineFunctionOptions {
  description: string;
  timeout: Duration;
  environment: Record<string, string>;
  vpcPlacement?: FunctionVpcPlacement;
}

/** `ws-notifier` → `WsNotifier`: function folders may be kebab-case; logical ids are alphanumeric. */
export function pascal(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/**
 * The one place for what every pipeline function shares: runtime and architecture, esbuild bundling, its own
 * log group and a role that may write only there, Powertools settings. Creates `<Name>LogGroup`,
 * `<Name>FunctionRole` and `<Name>Function` in `scope`.
 */
export function createPipelineFunction(
  scope: Construct,
  name: FunctionName,
  config: InfraConfig,
  options: PipelineFunctionOptions,
): NodejsFunction {
  const id = pascal(name);
  const logGroup = named(
    new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    }),
  );
  // Own role instead of AWSLambdaBasicExecutionRole (logs:* on *): write to this function's log group only.
  const role = new iam.Role(scope, `${id}FunctionRole`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `Execution role of the ${name} function`,
  });
  logGroup.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents');
  const { vpcPlacement } = options;
  const entry = path.join(FUNCTIONS_DIR, name, 'handler.ts');
  const fn = named(
    new NodejsFunction(scope, `${id}Function`, {
      entry,
      handler: 'handler',
      description: options.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: config.functionMemoryMb,
      timeout: options.timeout,
      role,
      logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: name,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        LOG_LEVEL: config.logLevel,
        NODE_OPTIONS: '--enable-source-maps',
        ...options.environment,
      },
      bundling: {
        // esbuild from node_modules; never Docker.
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        target: 'node22',
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // Bundle the pinned AWS SDK too: the same code runs in the emulated runtimes, which have none.
        externalModules: [],
        // Known before bundling, so a synth that finds the bundle already built does not build it again.
        assetHash: bundleAssetHash(entry),
      },
      ...(vpcPlacement
        ? { vpc: vpcPlacement.vpc, vpcSubnets: vpcPlacement.subnets, securityGroups: vpcPlacement.securityGroups }
        : {}),
    }),
  );
  NagSuppressions.addResourceSuppressions(fn, [
    {
      id: 'AwsSolutions-L1',
      reason: 'nodejs22.x is the runtime the pipeline is specified and tested for (issue 3); 24.x is not adopted.',
    },
  ]);
  if (vpcPlacement) {
    NagSuppressions.addResourceSuppressions(
      role,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            'AWSLambdaVPCAccessExecutionRole is what Lambda needs to manage the ENIs of a function in a VPC ' +
            '(ec2:CreateNetworkInterface and friends do not support resource-level scoping).',
          appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole'],
        },
      ],
      true,
    );
  }
  return fn;
}

/** Gives the (only) event source mapping of a function a readable logical id. */
export function nameEventSourceMapping(fn: lambda.Function, logicalId: string): void {
  const mapping = fn.node.children.find((child) => child instanceof lambda.EventSourceMapping);
  const resource = mapping?.node.defaultChild;
  if (resource instanceof CfnResource) resource.overrideLogicalId(logicalId);
}
