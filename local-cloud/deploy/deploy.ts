import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DeleteTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type AttributeDefinition,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  type LocalSecondaryIndex,
} from '@aws-sdk/client-dynamodb';
import {
  CreateLogGroupCommand,
  DeleteLogGroupCommand,
  PutRetentionPolicyCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  ResourceInUseException as StreamInUse,
} from '@aws-sdk/client-kinesis';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import type { S3Store } from '../s3/store';
import { reconcileIndexes } from './table-indexes';
import type { SsmParameterStore } from '../ssm';
import {
  COGNITO_RESOURCE_TYPES,
  deleteCognitoResource,
  ensureUserPool,
  ensureUserPoolClient,
  ensureUserPoolGroup,
  type CognitoIdp,
} from '../cognito';
import { createTopic, deleteTopic, subscribe, unsubscribe } from './sns';
import { extractZip } from './zip';
import { ApiGatewayTemplate, isApiGatewayV2Type, type ApiSpec } from '../apigateway/template';
import type { KinesisMappingSpec } from '../runtime/kinesis-mapping';
import type { SqsMappingSpec } from '../runtime/sqs-mapping';
import type { FunctionSpec } from '../runtime/types';
import type { CfnResource, CloudAssemblyStack } from './synth';
import {
  createCloudWatchLogsClient,
  createDynamoDbClient,
  createKinesisClient,
  createSnsClient,
  createSqsClient,
  EMULATOR_CREDENTIALS,
  type ClientTarget,
} from '../../shared/aws/clients';

export interface ScheduleSpec {
  logicalId: string;
  expression: string;
  enabled: boolean;
  functionLogicalId: string;
  /** The target's Input (JSON text), with Scheduler's context placeholders still in it. */
  input: string | undefined;
}

/** What the template became locally: the runtime's input, plus what was not emulated. */
export interface Deployment {
  stackName: string;
  functions: Record<string, FunctionSpec>;
  kinesisMappings: { logicalId: string; functionLogicalId: string; spec: KinesisMappingSpec }[];
  sqsMappings: { logicalId: string; functionLogicalId: string; spec: SqsMappingSpec }[];
  schedules: ScheduleSpec[];
  /** The HTTP and WebSocket APIs (AWS::ApiGatewayV2::*) the edge serves. */
  apis: ApiSpec[];
  /** Physical id (Ref) of every resource created or accepted. */
  resources: Record<string, { type: string; physicalId: string }>;
  outputs: Record<string, string>;
  /** Resources the embedded cloud does not run, with why — printed at start-up, never skipped silently. */
  notEmulated: { logicalId: string; type: string }[];
  /** Resources accepted without effect locally (IAM and resource policies are not enforced). */
  notEnforced: { logicalId: string; type: string }[];
}

export interface DeployOptions {
  /** The cloud assembly folder (asset directories are relative to it). */
  outdir: string;
  stack: CloudAssemblyStack;
  region?: string;
  /**
   * Replaces these variables in every function environment that has them (e.g. the local Raft members); a
   * function computes the new value from the synthesized one (e.g. a scoped key re-issued for its own scope).
   */
  environmentOverrides?: Record<string, string | ((synthesized: string) => string)>;
  /** Removes these variables from every function environment (e.g. a secret ARN replaced by a plain local secret). */
  environmentRemovals?: string[];
  /** The template's parameter values (CloudFormation resolved them, SSM-typed ones included). */
  parameters?: Record<string, unknown>;
  /** The template's conditions, evaluated. */
  conditions?: Record<string, boolean>;
  stackId?: string;
  /** Where the SDK clients send their calls (default: this process's AWS_ENDPOINT_URL). */
  endpoint?: string;
  /** The local S3: buckets are created in it, and function code (Code.S3Bucket/S3Key) is read from it. */
  s3?: S3Store;
  ssm?: SsmParameterStore;
  /** The local user pools: AWS::Cognito::UserPool, ::UserPoolClient and ::UserPoolGroup are created in it. */
  cognito?: CognitoIdp;
  /** Where function zips are unpacked (one folder per zip); required when code comes from S3. */
  codeDir?: string;
  /** Told when each resource starts, finishes or fails (CloudFormation writes its events from this). */
  onResource?: (progress: ResourceProgress) => void;
}

export interface ResourceProgress {
  logicalId: string;
  type: string;
  state: 'IN_PROGRESS' | 'COMPLETE' | 'FAILED';
  physicalId?: string;
  reason?: string;
}

/** The value of `Ref: AWS::NoValue`: the property it is in is removed. */
const NO_VALUE = Symbol('AWS::NoValue');

const ACCOUNT = '000000000000';
/** Types whose effect is access control, which the local emulators do not enforce. */
const NOT_ENFORCED = new Set([
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::IAM::ManagedPolicy',
  'AWS::Lambda::Permission',
  'AWS::SQS::QueuePolicy',
  'AWS::SNS::TopicPolicy',
  'AWS::CDK::Metadata',
]);

interface Physical {
  ref: string;
  attrs: Record<string, string>;
  /** Recorded with its name only: its attributes are not known locally. */
  notEmulated?: boolean;
}

class Unemulated {
  constructor(
    readonly logicalId: string,
    readonly physicalId: string,
  ) {}
}

/**
 * Creates the local resources a synthesized PipelineStack template describes — streams, queues (with
 * redrive policies pointing at the local DLQ ARNs), tables (keys, indexes, TTL), log groups — and
 * turns its functions, event source mappings and schedules into runtime specs, with every Ref,
 * Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and Fn::Split resolved to the local resources.
 * Resources are created on first reference, so dependencies come first whatever the template order.
 * Creating is idempotent: deploying again onto an existing data dir keeps what is there.
 */
export async function deployTemplate(opts: DeployOptions): Promise<Deployment> {
  return new TemplateDeployer(opts).run();
}

class TemplateDeployer {
  private readonly region: string;
  private readonly resources: Record<string, CfnResource>;
  private readonly created = new Map<string, Promise<Physical>>();
  private readonly kinesis: ReturnType<typeof createKinesisClient>;
  private readonly sqs: ReturnType<typeof createSqsClient>;
  private readonly sns: ReturnType<typeof createSnsClient>;
  private readonly dynamodb: ReturnType<typeof createDynamoDbClient>;
  private readonly logs: ReturnType<typeof createCloudWatchLogsClient>;
  private readonly arnToLogical = new Map<string, string>();
  /** Log groups named by a function's LoggingConfig get Lambda's default name for that function. */
  private readonly functionLogGroups = new Map<string, string>();
  private readonly out: Deployment;
  private readonly apis: ApiGatewayTemplate;

  constructor(private readonly opts: DeployOptions) {
    this.region = opts.region ?? process.env.AWS_REGION ?? 'us-east-1';
    const conditions = opts.conditions ?? {};
    // Resources whose Condition is false are not part of the stack at all.
    this.resources = Object.fromEntries(
      Object.entries(opts.stack.template.Resources).filter(([, r]) => !r.Condition || conditions[r.Condition] === true),
    );
    const target = clientTarget(opts.endpoint, this.region);
    this.kinesis = createKinesisClient(target);
    this.sqs = createSqsClient(target);
    this.sns = createSnsClient(target);
    this.dynamodb = createDynamoDbClient(target);
    this.logs = createCloudWatchLogsClient(target);
    this.out = {
      stackName: opts.stack.stackName,
      functions: {},
      kinesisMappings: [],
      sqsMappings: [],
      schedules: [],
      apis: [],
      resources: {},
      outputs: {},
      notEmulated: [],
      notEnforced: [],
    };
    this.apis = new ApiGatewayTemplate(opts.stack.stackName, this.region, (arn) => this.arnToLogical.get(arn));
    for (const [id, r] of Object.entries(this.resources)) {
      const ref = (r.Properties?.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup?.Ref;
      if (r.Type === 'AWS::Lambda::Function' && ref)
        this.functionLogGroups.set(ref, `/aws/lambda/${this.functionName(id, r)}`);
    }
  }

  async run(): Promise<Deployment> {
    try {
      for (const id of Object.keys(this.resources)) {
        const physical = await this.ensure(id);
        if (physical) this.out.resources[id] = { type: this.resources[id]?.Type ?? '', physicalId: physical.ref };
      }
      this.out.apis = this.apis.build();
      for (const [name, o] of Object.entries(this.opts.stack.template.Outputs ?? {})) {
        if (o.Condition && this.opts.conditions?.[o.Condition] !== true) continue;
        this.out.outputs[name] = String(await this.resolve(o.Value, `output ${name}`));
      }
      return this.out;
    } finally {
      this.kinesis.destroy();
      this.sqs.destroy();
      this.sns.destroy();
      this.dynamodb.destroy();
      this.logs.destroy();
    }
  }

  private ensure(id: string): Promise<Physical | undefined> {
    const resource = this.resources[id];
    if (!resource) throw new Error(`the template references a resource ${id} it does not define`);
    let p = this.created.get(id);
    if (!p) {
      const progress = (state: ResourceProgress['state'], extra: Partial<ResourceProgress> = {}) =>
        this.opts.onResource?.({ logicalId: id, type: resource.Type, state, ...extra });
      progress('IN_PROGRESS');
      p = this.create(id, resource).then(
        (physical) => {
          progress('COMPLETE', { physicalId: physical.ref });
          return physical;
        },
        (err: unknown) => {
          if (err instanceof Unemulated)
            progress('COMPLETE', { physicalId: err.physicalId, reason: 'accepted: not emulated locally' });
          else progress('FAILED', { reason: (err as Error).message });
          throw err;
        },
      );
      this.created.set(id, p);
    }
    return p.catch((err: unknown) => {
      if (err instanceof Unemulated) return { ref: err.physicalId, attrs: {}, notEmulated: true };
      throw err;
    });
  }

  private async create(id: string, r: CfnResource): Promise<Physical> {
    const props = r.Properties ?? {};
    if (NOT_ENFORCED.has(r.Type)) {
      if (!this.out.notEnforced.some((n) => n.logicalId === id))
        this.out.notEnforced.push({ logicalId: id, type: r.Type });
      const name = await this.resolve(props.RoleName ?? props.PolicyName ?? props.ManagedPolicyName, id);
      const ref = typeof name === 'string' ? name : id;
      return {
        ref,
        attrs: { Arn: `arn:aws:iam::${ACCOUNT}:role/${ref}`, RoleId: `AROA${id.toUpperCase().slice(0, 17)}` },
      };
    }
    if (isApiGatewayV2Type(r.Type)) return this.apis.add(id, r.Type, (await this.resolve(props, id)) as typeof props);
    switch (r.Type) {
      case 'AWS::S3::Bucket':
        return this.createBucket(id, props);
      case 'AWS::SSM::Parameter':
        return this.createParameter(id, props);
      case 'AWS::Kinesis::Stream':
        return this.createStream(id, props);
      case 'AWS::Kinesis::StreamConsumer':
        return this.createStreamConsumer(id, props);
      case 'AWS::SQS::Queue':
        return this.createQueue(id, props);
      case 'AWS::SNS::Topic': {
        const topic = await createTopic(
          this.sns,
          this.name(id, undefined),
          (await this.resolve(props, id)) as Record<string, unknown>,
        );
        return { ref: topic.arn, attrs: { TopicArn: topic.arn, TopicName: topic.name } };
      }
      case 'AWS::SNS::Subscription': {
        const arn = await subscribe(this.sns, (await this.resolve(props, id)) as Record<string, unknown>);
        return { ref: arn, attrs: { Arn: arn } };
      }
      case 'AWS::DynamoDB::Table':
        return this.createTable(id, props);
      case 'AWS::Logs::LogGroup':
        return this.createLogGroup(id, props);
      case 'AWS::Lambda::Function':
        return this.createFunction(id, r);
      case 'AWS::Lambda::EventSourceMapping':
        return this.createMapping(id, props);
      case 'AWS::Scheduler::Schedule':
        return this.createSchedule(id, props);
      case 'AWS::Cognito::UserPool':
      case 'AWS::Cognito::UserPoolClient':
      case 'AWS::Cognito::UserPoolGroup':
        return this.createCognitoResource(id, r.Type, props);
      default: {
        this.out.notEmulated.push({ logicalId: id, type: r.Type });
        const explicit = Object.entries(props).find(([k, v]) => /Name$/.test(k) && typeof v !== 'object')?.[1];
        throw new Unemulated(id, typeof explicit === 'string' ? explicit : this.name(id, undefined));
      }
    }
  }

  private async createBucket(id: string, props: Record<string, unknown>): Promise<Physical> {
    if (!this.opts.s3) throw new Error(`bucket ${id}: no local S3 to create it in`);
    const explicit = await this.resolve(props.BucketName, id);
    const name =
      typeof explicit === 'string' ? explicit : `${this.opts.stack.stackName}-${id}`.toLowerCase().slice(0, 63);
    if (!this.opts.s3.hasBucket(name)) this.opts.s3.createBucket(name, this.region);
    type Sse = { ServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: string } };
    const config = (await this.resolve(props.BucketEncryption, id)) as
      { ServerSideEncryptionConfiguration?: Sse[] } | undefined;
    const rule = config?.ServerSideEncryptionConfiguration?.[0]?.ServerSideEncryptionByDefault;
    this.opts.s3.setEncryption(
      name,
      rule?.SSEAlgorithm
        ? { algorithm: rule.SSEAlgorithm, ...(rule.KMSMasterKeyID ? { kmsKeyId: rule.KMSMasterKeyID } : {}) }
        : undefined,
    );
    const domain = `${name}.s3.${this.region}.amazonaws.com`;
    return {
      ref: name,
      attrs: {
        Arn: `arn:aws:s3:::${name}`,
        DomainName: `${name}.s3.amazonaws.com`,
        RegionalDomainName: domain,
        WebsiteURL: `http://${name}.s3-website-${this.region}.amazonaws.com`,
      },
    };
  }

  private async createCognitoResource(id: string, type: string, props: Record<string, unknown>): Promise<Physical> {
    const cognito = this.opts.cognito?.state;
    if (!cognito) throw new Error(`${id}: no local Cognito to create it in`);
    const resolved = (await this.resolve(props, id)) as Record<string, unknown>;
    const key = `${this.opts.stack.stackName}/${id}`;
    if (type === 'AWS::Cognito::UserPool') return ensureUserPool(cognito, key, this.region, resolved);
    if (type === 'AWS::Cognito::UserPoolClient') return ensureUserPoolClient(cognito, key, resolved);
    return ensureUserPoolGroup(cognito, resolved);
  }

  private async createParameter(id: string, props: Record<string, unknown>): Promise<Physical> {
    if (!this.opts.ssm) throw new Error(`parameter ${id}: no local SSM to create it in`);
    const explicit = await this.resolve(props.Name, id);
    const name = typeof explicit === 'string' ? explicit : `CFN-${id}`;
    const value = String(await this.resolve(props.Value, id));
    const type = String(props.Type ?? 'String') as 'String' | 'StringList';
    this.opts.ssm.put({ Name: name, Value: value, Type: type, Overwrite: true });
    return { ref: name, attrs: { Type: type, Value: value } };
  }

  private name(id: string, explicit: unknown): string {
    return typeof explicit === 'string' ? explicit : `${this.opts.stack.stackName}-${id}`;
  }

  private functionName(id: string, r: CfnResource): string {
    return this.name(id, r.Properties?.FunctionName);
  }

  private async createStream(id: string, props: Record<string, unknown>): Promise<Physical> {
    const name = this.name(id, await this.resolve(props.Name, id));
    try {
      await this.kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: Number(props.ShardCount ?? 1) }));
    } catch (err) {
      if (!(err instanceof StreamInUse)) throw err;
    }
    for (;;) {
      const d = await this.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      if (d.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') {
        const arn = d.StreamDescriptionSummary.StreamARN ?? `arn:aws:kinesis:${this.region}:${ACCOUNT}:stream/${name}`;
        this.arnToLogical.set(arn, id);
        return { ref: name, attrs: { Arn: arn } };
      }
      await new Promise((done) => setTimeout(done, 100));
    }
  }

  /**
   * An enhanced fan-out consumer. kinesalite has no consumers (RegisterStreamConsumer, SubscribeToShard), so it is
   * made here only: its ARN, which a mapping names as its source to read the stream as a fan-out consumer would
   * (KinesisMappingSpec.enhancedFanOut, local-cloud/runtime/kinesis-mapping.ts). Nothing to delete.
   */
  private async createStreamConsumer(id: string, props: Record<string, unknown>): Promise<Physical> {
    const streamArn = String(await this.resolve(props.StreamARN, id));
    const stream = this.arnToLogical.get(streamArn);
    if (!stream || this.resources[stream]?.Type !== 'AWS::Kinesis::Stream')
      throw new Error(`stream consumer ${id}: ${streamArn} is not a stream of this stack`);
    const name = String(await this.resolve(props.ConsumerName, id));
    const created = Math.floor(Date.now() / 1000);
    const arn = `${streamArn}/consumer/${name}:${created}`;
    this.arnToLogical.set(arn, id);
    return {
      ref: arn,
      attrs: {
        ConsumerARN: arn,
        ConsumerName: name,
        ConsumerStatus: 'ACTIVE',
        StreamARN: streamArn,
        ConsumerCreationTimestamp: String(created),
      },
    };
  }

  private async createQueue(id: string, props: Record<string, unknown>): Promise<Physical> {
    const fifo = (await this.resolve(props.FifoQueue, id)) === true || props.FifoQueue === 'true';
    let name = this.name(id, await this.resolve(props.QueueName, id));
    if (fifo && !name.endsWith('.fifo')) name += '.fifo';
    const attributes: Record<string, string> = {};
    const copy = [
      'FifoQueue',
      'ContentBasedDeduplication',
      'DeduplicationScope',
      'FifoThroughputLimit',
      'VisibilityTimeout',
      'MessageRetentionPeriod',
      'DelaySeconds',
      'MaximumMessageSize',
      'ReceiveMessageWaitTimeSeconds',
    ];
    for (const key of copy) {
      const value = await this.resolve(props[key], id);
      if (value !== undefined) attributes[key] = String(value);
    }
    if (props.RedrivePolicy !== undefined)
      attributes.RedrivePolicy = JSON.stringify(await this.resolve(props.RedrivePolicy, id));
    const url = await this.createOrUpdateQueue(name, attributes);
    if (!url) throw new Error(`CreateQueue ${name} returned no URL`);
    const got = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    const arn = got.Attributes?.QueueArn ?? `arn:aws:sqs:${this.region}:${ACCOUNT}:${name}`;
    this.arnToLogical.set(arn, id);
    return { ref: url, attrs: { Arn: arn, QueueName: name, QueueUrl: url } };
  }

  /** An existing queue (an update, or a second deploy onto the same data) gets the template's attributes set. */
  private async createOrUpdateQueue(name: string, attributes: Record<string, string>): Promise<string | undefined> {
    const existing = await this.sqs.send(new GetQueueUrlCommand({ QueueName: name })).catch((err: unknown) => {
      if (
        (err as Error).name === 'QueueDoesNotExist' ||
        (err as Error).name === 'AWS.SimpleQueueService.NonExistentQueue'
      )
        return undefined;
      throw err;
    });
    if (!existing?.QueueUrl) {
      return (await this.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl;
    }
    // Only what differs is set: FifoQueue cannot change, and an attribute the local SQS does not report is one it
    // does not implement (fauxqs has no DeduplicationScope, for one), so setting it would fail every update.
    const got = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: existing.QueueUrl, AttributeNames: ['All'] }),
    );
    const current: Record<string, string> = { ...got.Attributes };
    const changed = Object.fromEntries(
      Object.entries(attributes).filter(([k, v]) => k !== 'FifoQueue' && k in current && current[k] !== v),
    );
    if (Object.keys(changed).length > 0) {
      await this.sqs.send(new SetQueueAttributesCommand({ QueueUrl: existing.QueueUrl, Attributes: changed }));
    }
    return existing.QueueUrl;
  }

  private async createTable(id: string, props: Record<string, unknown>): Promise<Physical> {
    const name = this.name(id, await this.resolve(props.TableName, id));
    const payPerRequest = props.BillingMode === 'PAY_PER_REQUEST';
    const throughput = { ReadCapacityUnits: 5, WriteCapacityUnits: 5 };
    const gsis = (await this.resolve(props.GlobalSecondaryIndexes, id)) as GlobalSecondaryIndex[] | undefined;
    const attributeDefinitions = (await this.resolve(props.AttributeDefinitions, id)) as AttributeDefinition[];
    try {
      await this.dynamodb.send(
        new CreateTableCommand({
          TableName: name,
          KeySchema: (await this.resolve(props.KeySchema, id)) as KeySchemaElement[],
          AttributeDefinitions: attributeDefinitions,
          BillingMode: payPerRequest ? 'PAY_PER_REQUEST' : 'PROVISIONED',
          ...(payPerRequest ? {} : { ProvisionedThroughput: throughput }),
          ...(gsis
            ? {
                GlobalSecondaryIndexes: gsis.map((g) => ({
                  ...g,
                  ...(payPerRequest ? {} : { ProvisionedThroughput: throughput }),
                })),
              }
            : {}),
          ...(props.LocalSecondaryIndexes
            ? { LocalSecondaryIndexes: (await this.resolve(props.LocalSecondaryIndexes, id)) as LocalSecondaryIndex[] }
            : {}),
        }),
      );
    } catch (err) {
      if (!(err instanceof ResourceInUseException) && (err as Error).name !== 'ResourceInUseException') throw err;
      // The table is there (an update, or a second deploy onto the same data): its indexes become the template's.
      await reconcileIndexes(
        this.dynamodb,
        name,
        gsis ?? [],
        attributeDefinitions,
        payPerRequest ? undefined : throughput,
      );
    }
    const ttl = props.TimeToLiveSpecification as { AttributeName?: string; Enabled?: boolean } | undefined;
    if (ttl?.Enabled && ttl.AttributeName) {
      try {
        await this.dynamodb.send(
          new UpdateTimeToLiveCommand({
            TableName: name,
            TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
          }),
        );
      } catch (err) {
        // Already enabled (a second deploy onto the same data) is fine; anything else is not.
        if (!/already enabled/i.test((err as Error).message)) throw err;
      }
    }
    const arn = `arn:aws:dynamodb:${this.region}:${ACCOUNT}:table/${name}`;
    return { ref: name, attrs: { Arn: arn } };
  }

  private async createLogGroup(id: string, props: Record<string, unknown>): Promise<Physical> {
    const explicit = await this.resolve(props.LogGroupName, id);
    const name =
      typeof explicit === 'string'
        ? explicit
        : (this.functionLogGroups.get(id) ?? `/${this.opts.stack.stackName}/${id}`);
    try {
      await this.logs.send(new CreateLogGroupCommand({ logGroupName: name }));
    } catch (err) {
      if (!(err instanceof ResourceAlreadyExistsException) && (err as Error).name !== 'ResourceAlreadyExistsException')
        throw err;
    }
    if (props.RetentionInDays !== undefined) {
      await this.logs.send(
        new PutRetentionPolicyCommand({ logGroupName: name, retentionInDays: Number(props.RetentionInDays) }),
      );
    }
    return { ref: name, attrs: { Arn: `arn:aws:logs:${this.region}:${ACCOUNT}:log-group:${name}:*` } };
  }

  private async createFunction(id: string, r: CfnResource): Promise<Physical> {
    const props = r.Properties ?? {};
    const name = this.functionName(id, r);
    const codeDir = await this.codeDirectory(id, r);
    const handler = String(props.Handler ?? 'index.handler');
    const dot = handler.lastIndexOf('.');
    const base = join(codeDir, handler.slice(0, dot));
    const modulePath = ['.js', '.cjs', '.mjs'].map((ext) => base + ext).find((p) => existsSync(p));
    if (!modulePath) throw new Error(`function ${id}: no module for handler ${handler} in ${codeDir}`);
    const variables = ((await this.resolve(
      (props.Environment as { Variables?: unknown } | undefined)?.Variables,
      id,
    )) ?? {}) as Record<string, unknown>;
    const environment: Record<string, string> = {};
    for (const [k, v] of Object.entries(variables)) environment[k] = String(v);
    for (const [k, v] of Object.entries(this.opts.environmentOverrides ?? {})) {
      if (k in environment) environment[k] = typeof v === 'string' ? v : v(environment[k] ?? '');
    }
    for (const k of this.opts.environmentRemovals ?? []) delete environment[k];
    const logGroup = await this.resolve((props.LoggingConfig as { LogGroup?: unknown } | undefined)?.LogGroup, id);
    const spec: FunctionSpec = {
      name,
      modulePath,
      exportName: handler.slice(dot + 1),
      timeoutSeconds: Number(props.Timeout ?? 3),
      memoryMb: Number(props.MemorySize ?? 128),
      environment,
      ...(typeof logGroup === 'string' ? { logGroup } : {}),
      ...(props.ReservedConcurrentExecutions !== undefined
        ? { maxConcurrency: Number(props.ReservedConcurrentExecutions) }
        : {}),
    };
    this.out.functions[id] = spec;
    const arn = `arn:aws:lambda:${this.region}:${ACCOUNT}:function:${name}`;
    this.arnToLogical.set(arn, id);
    return { ref: name, attrs: { Arn: arn } };
  }

  /**
   * Where a function's code is: the zip the template names in S3 (Code.S3Bucket/S3Key, what the CDK CLI
   * uploaded), unpacked once per zip content; else the asset folder of a cloud assembly deployed directly.
   */
  private async codeDirectory(id: string, r: CfnResource): Promise<string> {
    const code = (await this.resolve(r.Properties?.Code, id)) as
      { S3Bucket?: string; S3Key?: string; ZipFile?: string } | undefined;
    if (this.opts.s3 && code?.S3Bucket && code.S3Key) {
      if (!this.opts.codeDir) throw new Error(`function ${id}: no folder to unpack its code into`);
      let zip: Buffer;
      try {
        zip = this.opts.s3.get(code.S3Bucket, code.S3Key).body;
      } catch (err) {
        throw new Error(
          `function ${id}: cannot read its code s3://${code.S3Bucket}/${code.S3Key}: ${(err as Error).message}`,
        );
      }
      const dir = join(this.opts.codeDir, createHash('sha256').update(zip).digest('hex'));
      if (!existsSync(dir)) extractZip(zip, dir);
      return dir;
    }
    if (this.opts.codeDir && typeof code?.ZipFile === 'string') {
      const dir = join(this.opts.codeDir, createHash('sha256').update(code.ZipFile).digest('hex'));
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'index.js'), code.ZipFile);
      return dir;
    }
    const assetPath = r.Metadata?.['aws:asset:path'];
    if (typeof assetPath !== 'string') {
      throw new Error(
        `function ${id}: its Code names no S3 object, and it has no aws:asset:path metadata to find it in ${this.opts.outdir}`,
      );
    }
    return join(this.opts.outdir, assetPath);
  }

  private functionLogicalId(value: unknown, where: string): string {
    const s = String(value);
    const id =
      this.arnToLogical.get(s) ?? Object.keys(this.out.functions).find((k) => this.out.functions[k]?.name === s);
    if (!id) throw new Error(`${where}: ${s} is not a function of this stack`);
    return id;
  }

  private async createMapping(id: string, props: Record<string, unknown>): Promise<Physical> {
    const sourceArn = String(await this.resolve(props.EventSourceArn, id));
    const functionLogicalId = this.functionLogicalId(await this.resolve(props.FunctionName, id), `mapping ${id}`);
    const source = this.arnToLogical.get(sourceArn);
    const sourceType = source ? this.resources[source]?.Type : undefined;
    const reportBatchItemFailures = ((props.FunctionResponseTypes as string[] | undefined) ?? []).includes(
      'ReportBatchItemFailures',
    );
    const window = Number(props.MaximumBatchingWindowInSeconds ?? 0);
    // Through an enhanced fan-out consumer, the stream is the consumer's.
    const fanOut = sourceType === 'AWS::Kinesis::StreamConsumer' && source !== undefined;
    const streamArn = fanOut ? String((await this.ensure(source))?.attrs.StreamARN) : sourceArn;
    const streamId = fanOut ? this.arnToLogical.get(streamArn) : source;
    if ((sourceType === 'AWS::Kinesis::Stream' || fanOut) && streamId) {
      const stream = await this.ensure(streamId);
      const destination = await this.resolve(
        (props.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)?.OnFailure?.Destination,
        id,
      );
      let onFailureQueueUrl: string | undefined;
      if (destination !== undefined) {
        const target = this.arnToLogical.get(String(destination));
        if (!target || this.resources[target]?.Type !== 'AWS::SQS::Queue') {
          throw new Error(
            `mapping ${id}: on-failure destination ${String(destination)} is not an SQS queue of this stack (only SQS is emulated)`,
          );
        }
        onFailureQueueUrl = (await this.ensure(target))?.ref;
      }
      const spec: KinesisMappingSpec = {
        id,
        streamName: stream?.ref ?? '',
        streamArn,
        ...(fanOut ? { enhancedFanOut: true } : {}),
        startingPosition: props.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
        batchSize: Number(props.BatchSize ?? 100),
        maximumBatchingWindowSeconds: window,
        reportBatchItemFailures,
        bisectBatchOnFunctionError: props.BisectBatchOnFunctionError === true,
        maximumRetryAttempts: Number(props.MaximumRetryAttempts ?? -1),
        maximumRecordAgeSeconds: Number(props.MaximumRecordAgeInSeconds ?? -1),
        parallelizationFactor: Number(props.ParallelizationFactor ?? 1),
        ...(onFailureQueueUrl ? { onFailureQueueUrl } : {}),
      };
      this.out.kinesisMappings.push({ logicalId: id, functionLogicalId, spec });
    } else if (sourceType === 'AWS::SQS::Queue' && source) {
      const queue = await this.ensure(source);
      const maximumConcurrency = (props.ScalingConfig as { MaximumConcurrency?: unknown } | undefined)
        ?.MaximumConcurrency;
      if (
        maximumConcurrency !== undefined &&
        !(Number(maximumConcurrency) >= 2 && Number(maximumConcurrency) <= 1000)
      ) {
        throw new Error(
          `mapping ${id}: ScalingConfig.MaximumConcurrency ${String(maximumConcurrency)} is outside 2..1000`,
        );
      }
      const spec: SqsMappingSpec = {
        id,
        queueUrl: queue?.ref ?? '',
        queueArn: sourceArn,
        batchSize: Number(props.BatchSize ?? 10),
        maximumBatchingWindowSeconds: window,
        reportBatchItemFailures,
        // Without ScalingConfig the mapping runs its default pollers (SqsEventSourceMapping's DEFAULT_POLLERS).
        ...(maximumConcurrency !== undefined ? { maximumConcurrency: Number(maximumConcurrency) } : {}),
      };
      this.out.sqsMappings.push({ logicalId: id, functionLogicalId, spec });
    } else {
      throw new Error(`mapping ${id}: event source ${sourceArn} is not a stream or queue of this stack`);
    }
    return { ref: id, attrs: {} };
  }

  private async createSchedule(id: string, props: Record<string, unknown>): Promise<Physical> {
    const target = props.Target as { Arn?: unknown; Input?: unknown } | undefined;
    const functionLogicalId = this.functionLogicalId(await this.resolve(target?.Arn, id), `schedule ${id}`);
    const input = await this.resolve(target?.Input, id);
    this.out.schedules.push({
      logicalId: id,
      expression: String(await this.resolve(props.ScheduleExpression, id)),
      enabled: props.State !== 'DISABLED',
      functionLogicalId,
      input: input === undefined ? undefined : String(input),
    });
    return {
      ref: this.name(id, props.Name),
      attrs: { Arn: `arn:aws:scheduler:${this.region}:${ACCOUNT}:schedule/default/${id}` },
    };
  }

  /** Resolves CloudFormation intrinsic functions against the local resources. */
  private async resolve(value: unknown, where: string): Promise<unknown> {
    const resolved = await this.resolveOrNoValue(value, where);
    return resolved === NO_VALUE ? undefined : resolved;
  }

  /** Resolves, dropping array items and properties that resolve to AWS::NoValue. */
  private async resolveOrNoValue(value: unknown, where: string): Promise<unknown> {
    if (Array.isArray(value)) {
      const items = await Promise.all(value.map((v) => this.resolveOrNoValue(v, where)));
      return items.filter((v) => v !== NO_VALUE);
    }
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    const [key, arg] = entries[0] ?? [];
    if (entries.length === 1 && key !== undefined && (key === 'Ref' || key.startsWith('Fn::'))) {
      if (key === 'Ref' && arg === 'AWS::NoValue') return NO_VALUE;
      if (key === 'Fn::If') {
        const [condition, whenTrue, whenFalse] = arg as [string, unknown, unknown];
        if (!(condition in (this.opts.conditions ?? {})))
          throw new Error(`${where}: Fn::If names an unknown condition ${condition}`);
        return this.resolveOrNoValue(this.opts.conditions?.[condition] ? whenTrue : whenFalse, where);
      }
      return this.intrinsic(key, arg, where);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const r = await this.resolveOrNoValue(v, where);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  private async intrinsic(fn: string, arg: unknown, where: string): Promise<unknown> {
    switch (fn) {
      case 'Ref':
        return this.ref(String(arg), where);
      case 'Fn::GetAtt': {
        const [id, attr] = Array.isArray(arg) ? arg.map(String) : String(arg).split('.');
        return this.getAtt(String(id), String(attr), where);
      }
      case 'Fn::Join': {
        const [sep, parts] = arg as [string, unknown[]];
        const resolved = (await this.resolve(parts, where)) as unknown[];
        return resolved.map(String).join(sep);
      }
      case 'Fn::Select': {
        const [index, list] = (await this.resolve(arg, where)) as [number | string, unknown[]];
        return list[Number(index)];
      }
      case 'Fn::Split': {
        const [sep, text] = (await this.resolve(arg, where)) as [string, string];
        return text.split(sep);
      }
      case 'Fn::Sub': {
        const [template, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
        const resolvedVars = (await this.resolve(vars, where)) as Record<string, unknown>;
        let text = template;
        for (const m of template.matchAll(/\$\{([^}!]+)\}/g)) {
          const name = m[1] as string;
          const value =
            name in resolvedVars
              ? resolvedVars[name]
              : name.includes('.') && !name.startsWith('AWS::')
                ? await this.getAtt(name.slice(0, name.indexOf('.')), name.slice(name.indexOf('.') + 1), where)
                : await this.ref(name, where);
          text = text.replace(m[0], String(value));
        }
        return text;
      }
      default:
        throw new Error(`${where}: the intrinsic function ${fn} is not supported by the local deployer`);
    }
  }

  private async ref(name: string, where: string): Promise<unknown> {
    const pseudo: Record<string, unknown> = {
      'AWS::Region': this.region,
      'AWS::AccountId': ACCOUNT,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': this.opts.stack.stackName,
      'AWS::StackId':
        this.opts.stackId ??
        `arn:aws:cloudformation:${this.region}:${ACCOUNT}:stack/${this.opts.stack.stackName}/local`,
      'AWS::NoValue': '',
      ...this.opts.parameters,
    };
    if (name in pseudo) return pseudo[name];
    if (!(name in this.resources)) throw new Error(`${where}: Ref to unknown ${name}`);
    const physical = await this.ensure(name);
    return physical?.ref ?? `<not emulated: ${name}>`;
  }

  private async getAtt(id: string, attr: string, where: string): Promise<string> {
    if (!(id in this.resources)) throw new Error(`${where}: Fn::GetAtt of unknown ${id}`);
    const physical = await this.ensure(id);
    if (!physical || (physical.notEmulated && !(attr in physical.attrs))) return `<not emulated: ${id}.${attr}>`;
    const value = physical.attrs[attr];
    if (value === undefined) throw new Error(`${where}: ${id} has no attribute ${attr} locally`);
    return value;
  }
}

/** An explicit endpoint (the edge provisioning through itself) with the stack's region and the emulators' keys. */
function clientTarget(endpoint: string | undefined, region: string | undefined): ClientTarget {
  return endpoint ? { endpoint, region: region ?? 'us-east-1', credentials: EMULATOR_CREDENTIALS } : {};
}

export interface DeleteContext {
  endpoint?: string;
  region?: string;
  s3?: S3Store;
  ssm?: SsmParameterStore;
  cognito?: CognitoIdp;
}

const GONE = new Set([
  'ResourceNotFoundException',
  'QueueDoesNotExist',
  'AWS.SimpleQueueService.NonExistentQueue',
  'NoSuchBucket',
  'ParameterNotFound',
  'NotFound',
]);

/**
 * Deletes one resource a deploy created, by its type and physical id; one already gone counts as deleted
 * (a delete retried after a failure must not fail on what the first attempt removed). Functions, mappings and
 * schedules live in the local runtime, which the caller stops; what is only recorded has nothing to delete.
 */
export async function deleteResource(type: string, physicalId: string, ctx: DeleteContext): Promise<void> {
  const target = clientTarget(ctx.endpoint, ctx.region);
  if (COGNITO_RESOURCE_TYPES.has(type)) {
    if (ctx.cognito) deleteCognitoResource(ctx.cognito.state, type, physicalId);
    return;
  }
  const run = async (call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (err) {
      const e = err as Error & { code?: string };
      if (!GONE.has(e.name) && !GONE.has(e.code ?? '')) throw err;
    }
  };
  switch (type) {
    case 'AWS::Kinesis::Stream': {
      const c = createKinesisClient(target);
      return run(() =>
        c.send(new DeleteStreamCommand({ StreamName: physicalId, EnforceConsumerDeletion: true })),
      ).finally(() => c.destroy());
    }
    case 'AWS::SQS::Queue': {
      const c = createSqsClient(target);
      return run(() => c.send(new DeleteQueueCommand({ QueueUrl: physicalId }))).finally(() => c.destroy());
    }
    case 'AWS::SNS::Topic':
    case 'AWS::SNS::Subscription': {
      const c = createSnsClient(target);
      const remove = type === 'AWS::SNS::Topic' ? deleteTopic : unsubscribe;
      return run(() => remove(c, physicalId)).finally(() => c.destroy());
    }
    case 'AWS::DynamoDB::Table': {
      const c = createDynamoDbClient(target);
      return run(() => c.send(new DeleteTableCommand({ TableName: physicalId }))).finally(() => c.destroy());
    }
    case 'AWS::Logs::LogGroup': {
      const c = createCloudWatchLogsClient(target);
      return run(() => c.send(new DeleteLogGroupCommand({ logGroupName: physicalId }))).finally(() => c.destroy());
    }
    case 'AWS::S3::Bucket':
      return run(() => Promise.resolve(ctx.s3?.deleteBucket(physicalId)));
    case 'AWS::SSM::Parameter':
      return run(() => Promise.resolve(ctx.ssm?.delete(physicalId)));
    default:
      return;
  }
}
