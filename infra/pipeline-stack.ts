import * as path from 'node:path';
import { CfnOutput, CfnResource, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct, IConstruct } from 'constructs';
import { MetricName } from '../shared/powertools';
import type { InfraConfig } from './config';

export const FUNCTION_NAMES = ['ingest', 'process', 'execute', 'api'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

export const METRICS_NAMESPACE = 'TradingPipeline';
const FUNCTIONS_DIR = path.resolve(__dirname, '..', 'functions');

/** Where the execute and api functions find the Raft ledger when RaftClusterStack is deployed. */
export interface RaftClusterAccess {
  vpc: ec2.IVpc;
  subnets: ec2.SubnetSelection;
  clientSecurityGroup: ec2.ISecurityGroup;
  memberUrls: string[];
  authSecret: secretsmanager.ISecret;
}

export interface PipelineStackProps extends StackProps {
  config: InfraConfig;
  /** Present when the app deploys the Raft cluster; otherwise the members come from context. */
  raftCluster?: RaftClusterAccess;
}

/**
 * Ticks → Kinesis → process (strategy) → commands FIFO → execute (Raft ledger) → events FIFO,
 * with the HTTP API (POST /ticks, GET /orders/{orderId}, GET /positions, GET /health) and the feed schedule.
 *
 * Main resources keep their construct id as CloudFormation logical id (TicksStream, CommandsQueue,
 * IngestFunction, …) so the template reads like the architecture.
 */
export class PipelineStack extends Stack {
  readonly stream: kinesis.Stream;
  readonly commandsQueue: sqs.Queue;
  readonly commandsDlq: sqs.Queue;
  readonly eventsQueue: sqs.Queue;
  readonly eventsDlq: sqs.Queue;
  readonly processFailureQueue: sqs.Queue;
  readonly ordersTable: dynamodb.Table;
  readonly strategyTable: dynamodb.Table;
  readonly functions: Record<FunctionName, NodejsFunction>;
  readonly httpApi: apigwv2.HttpApi;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config, raftCluster } = props;
    const dataRemovalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // ---- Stream, queues, tables ------------------------------------------------------------------
    this.stream = named(
      new kinesis.Stream(this, 'TicksStream', {
        streamMode: kinesis.StreamMode.PROVISIONED,
        shardCount: config.shardCount,
        retentionPeriod: Duration.hours(config.streamRetentionHours),
        encryption: kinesis.StreamEncryption.MANAGED,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    );

    const fifoQueue = (queueId: string, deadLetterQueue: sqs.IQueue | undefined, visibility: Duration) =>
      named(
        new sqs.Queue(this, queueId, {
          fifo: true,
          contentBasedDeduplication: false,
          // High-throughput FIFO: dedup and throughput quotas per message group (symbol).
          deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
          fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
          encryption: sqs.QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          visibilityTimeout: visibility,
          retentionPeriod: deadLetterQueue ? Duration.days(4) : Duration.days(14),
          deadLetterQueue: deadLetterQueue && { queue: deadLetterQueue, maxReceiveCount: config.maxReceiveCount },
        }),
      );
    // AWS advises a source queue's visibility timeout of six times the consuming function's timeout.
    const executeTimeout = Duration.seconds(config.executeTimeoutSeconds);
    const commandsVisibility = Duration.seconds(config.executeTimeoutSeconds * 6);
    this.commandsDlq = fifoQueue('CommandsDlq', undefined, commandsVisibility);
    this.commandsQueue = fifoQueue('CommandsQueue', this.commandsDlq, commandsVisibility);
    this.eventsDlq = fifoQueue('EventsDlq', undefined, Duration.seconds(30));
    this.eventsQueue = fifoQueue('EventsQueue', this.eventsDlq, Duration.seconds(30));
    this.processFailureQueue = named(
      new sqs.Queue(this, 'ProcessFailureQueue', {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
      }),
    );
    NagSuppressions.addResourceSuppressions(this.processFailureQueue, [
      {
        id: 'AwsSolutions-SQS3',
        reason:
          'It is itself the dead-letter destination of the Kinesis mapping (on-failure records); ' +
          'no function consumes it, so no receive can fail and need a further DLQ.',
      },
    ]);
    for (const [queue, source] of [
      [this.commandsDlq, 'CommandsQueue'],
      [this.eventsDlq, 'EventsQueue'],
    ] as const) {
      NagSuppressions.addResourceSuppressions(queue, [
        { id: 'AwsSolutions-SQS3', reason: `It is the dead-letter queue of ${source}.` },
      ]);
    }

    const table = (tableId: string, partitionKey: string, timeToLiveAttribute?: string) =>
      named(
        new dynamodb.Table(this, tableId, {
          partitionKey: { name: partitionKey, type: dynamodb.AttributeType.STRING },
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          encryption: dynamodb.TableEncryption.AWS_MANAGED,
          timeToLiveAttribute,
          removalPolicy: dataRemovalPolicy,
        }),
      );
    // Execute's order records (shared/aws/order-records.ts), removed by TTL after 14 days.
    this.ordersTable = table('OrdersTable', 'id', 'expiration');
    this.strategyTable = table('StrategyStateTable', 'symbol');

    // ---- Functions ---------------------------------------------------------------------------------
    const raftEnvironment: Record<string, string> = {
      RAFT_MEMBERS: (raftCluster?.memberUrls ?? config.raftMembers ?? []).join(','),
      RAFT_REQUEST_TIMEOUT_MS: String(config.raftRequestTimeoutMs),
    };
    const raftSecretArn = raftCluster?.authSecret.secretArn ?? config.raftAuthSecretArn;
    if (raftSecretArn !== undefined) raftEnvironment.RAFT_AUTH_SECRET_ARN = raftSecretArn;
    else if (config.raftAuthSecret !== undefined) raftEnvironment.RAFT_AUTH_SECRET = config.raftAuthSecret;

    const makeFunction = (name: FunctionName, options: FunctionOptions) =>
      this.pipelineFunction(name, options, config, raftCluster);

    const ingest = makeFunction('ingest', {
      description: 'Validates ticks (POST /ticks) and runs the scheduled market feed; writes to TicksStream',
      timeout: Duration.seconds(config.ingestTimeoutSeconds),
      environment: {
        TICKS_STREAM_NAME: this.stream.streamName,
        FEED_SYMBOLS: config.feedSymbols.join(','),
        FEED_TICKS_PER_SECOND: String(config.feedTicksPerSecond),
        FEED_SEED: String(config.feedSeed),
      },
    });
    const process = makeFunction('process', {
      description: 'Runs the per-symbol strategy over the tick stream; sends order commands',
      timeout: Duration.seconds(config.processTimeoutSeconds),
      environment: {
        STRATEGY_TABLE_NAME: this.strategyTable.tableName,
        COMMANDS_QUEUE_URL: this.commandsQueue.queueUrl,
        STRATEGY_FAST_WINDOW: String(config.strategyFastWindow),
        STRATEGY_SLOW_WINDOW: String(config.strategySlowWindow),
        STRATEGY_ORDER_QUANTITY: String(config.strategyOrderQuantity),
        TRADING_ACCOUNT: config.tradingAccount,
        ...(config.strategyName === undefined ? {} : { STRATEGY_NAME: config.strategyName }),
      },
    });
    const execute = makeFunction('execute', {
      description: 'Applies each order command exactly once on the Raft ledger; publishes order events',
      timeout: executeTimeout,
      inRaftVpc: true,
      environment: {
        ORDERS_TABLE_NAME: this.ordersTable.tableName,
        EVENTS_QUEUE_URL: this.eventsQueue.queueUrl,
        COMMANDS_DLQ_URL: this.commandsDlq.queueUrl,
        ...raftEnvironment,
      },
    });
    const api = makeFunction('api', {
      description: 'GET /orders/{orderId}, GET /positions, GET /health',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      inRaftVpc: true,
      environment: {
        ORDERS_TABLE_NAME: this.ordersTable.tableName,
        ...raftEnvironment,
      },
    });
    this.functions = { ingest, process, execute, api };
    // A failed feed run is not re-run by Lambda's async retries either (they would overlap the next run).
    ingest.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });

    // ---- Least-privilege grants -----------------------------------------------------------------------
    this.stream.grantWrite(ingest);
    // Strategy state: consistent read, then a put conditional on the last applied sequence number.
    this.strategyTable.grant(process, 'dynamodb:GetItem', 'dynamodb:PutItem');
    this.commandsQueue.grantSendMessages(process);
    // Order records: conditional puts in one TransactWriteItems (authorized per item as PutItem), and the
    // consistent BatchGetItem of records written before, on a redelivery.
    this.ordersTable.grant(execute, 'dynamodb:PutItem', 'dynamodb:BatchGetItem');
    this.eventsQueue.grantSendMessages(execute);
    // Poison commands go to the DLQ at once, with their reason.
    this.commandsDlq.grantSendMessages(execute);
    this.ordersTable.grant(api, 'dynamodb:GetItem');
    if (raftCluster) {
      raftCluster.authSecret.grantRead(execute);
      raftCluster.authSecret.grantRead(api);
    } else if (config.raftAuthSecretArn !== undefined) {
      for (const fn of [execute, api]) {
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [config.raftAuthSecretArn],
          }),
        );
      }
    }

    // ---- Event source mappings -------------------------------------------------------------------------
    process.addEventSource(
      new KinesisEventSource(this.stream, {
        startingPosition: lambda.StartingPosition.TRIM_HORIZON,
        batchSize: config.kinesisBatchSize,
        maxBatchingWindow: Duration.seconds(config.kinesisBatchingWindowSeconds),
        bisectBatchOnError: true,
        retryAttempts: config.kinesisRetryAttempts,
        maxRecordAge: Duration.seconds(config.kinesisMaxRecordAgeSeconds),
        onFailure: new SqsDlq(this.processFailureQueue),
        reportBatchItemFailures: true,
        parallelizationFactor: config.kinesisParallelizationFactor,
      }),
    );
    execute.addEventSource(
      new SqsEventSource(this.commandsQueue, { batchSize: config.sqsBatchSize, reportBatchItemFailures: true }),
    );
    nameEventSourceMapping(process, 'ProcessTicksMapping');
    nameEventSourceMapping(execute, 'ExecuteCommandsMapping');

    // ---- HTTP API ------------------------------------------------------------------------------------
    const accessLogGroup = new logs.LogGroup(this, 'HttpApiAccessLogGroup', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // IAM (SigV4) on every route: the API is never open.
    this.httpApi = named(
      new apigwv2.HttpApi(this, 'HttpApi', {
        description: 'Trading pipeline: POST /ticks, GET /orders/{orderId}, GET /positions, GET /health',
        createDefaultStage: false,
        defaultAuthorizer: new HttpIamAuthorizer(),
      }),
    );
    named(
      new apigwv2.HttpStage(this, 'HttpApiStage', {
        httpApi: this.httpApi,
        stageName: '$default',
        autoDeploy: true,
        throttle: { rateLimit: config.apiThrottleRatePerSecond, burstLimit: config.apiThrottleBurst },
        accessLogSettings: {
          destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
          format: AccessLogFormat.custom(
            JSON.stringify({
              requestId: '$context.requestId',
              routeKey: '$context.routeKey',
              status: '$context.status',
              caller: '$context.identity.caller',
              sourceIp: '$context.identity.sourceIp',
              requestTime: '$context.requestTime',
              latencyMs: '$context.responseLatency',
              integrationError: '$context.integrationErrorMessage',
            }),
          ),
        },
      }),
    );
    const ingestIntegration = new HttpLambdaIntegration('IngestIntegration', ingest);
    const apiIntegration = new HttpLambdaIntegration('ApiIntegration', api);
    const routes: [string, apigwv2.HttpMethod, HttpLambdaIntegration][] = [
      ['/ticks', apigwv2.HttpMethod.POST, ingestIntegration],
      ['/orders/{orderId}', apigwv2.HttpMethod.GET, apiIntegration],
      ['/positions', apigwv2.HttpMethod.GET, apiIntegration],
      ['/health', apigwv2.HttpMethod.GET, apiIntegration],
    ];
    for (const [routePath, method, integration] of routes) {
      this.httpApi.addRoutes({ path: routePath, methods: [method], integration });
    }

    // ---- Market feed schedule -------------------------------------------------------------------------
    const feedScheduleRole = new iam.Role(this, 'FeedScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'Lets EventBridge Scheduler invoke the ingest function (market feed)',
    });
    named(
      new scheduler.Schedule(this, 'FeedSchedule', {
        description: 'Runs the seeded market feed in ingest for the length of one invocation',
        schedule: scheduler.ScheduleExpression.rate(Duration.minutes(config.feedRateMinutes)),
        enabled: config.feedEnabled,
        target: new LambdaInvoke(ingest, {
          role: feedScheduleRole,
          // ingest's FeedTriggerSchema: the scheduled time seeds the walk, so a run's ticks are reproducible.
          input: scheduler.ScheduleTargetInput.fromObject({
            kind: 'market-feed',
            scheduledTime: scheduler.ContextAttribute.scheduledTime,
          }),
          // A missed feed run is skipped, not retried: the next one starts at the next rate tick.
          retryAttempts: 0,
          maxEventAge: Duration.minutes(1),
        }),
      }),
    );

    // After the target has added its policy to the role.
    NagSuppressions.addResourceSuppressions(
      feedScheduleRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'lambda:InvokeFunction on the ingest function and its versions/aliases (<arn>:*) only.',
          appliesTo: ['Resource::<IngestFunction.Arn>:*'],
        },
      ],
      true,
    );

    // ---- Alarms and dashboard -----------------------------------------------------------------------
    this.monitoring(config);

    // ---- Outputs (names the tools and the README use) --------------------------------------------------
    const outputs: Record<string, string> = {
      TicksStreamName: this.stream.streamName,
      CommandsQueueUrl: this.commandsQueue.queueUrl,
      CommandsDlqUrl: this.commandsDlq.queueUrl,
      EventsQueueUrl: this.eventsQueue.queueUrl,
      EventsDlqUrl: this.eventsDlq.queueUrl,
      ProcessFailureQueueUrl: this.processFailureQueue.queueUrl,
      OrdersTableName: this.ordersTable.tableName,
      StrategyStateTableName: this.strategyTable.tableName,
      HttpApiUrl: this.httpApi.apiEndpoint,
      // For callers' IAM policies: execute-api:Invoke on this ARN (every route is IAM-authorized).
      HttpApiExecuteArn: this.httpApi.arnForExecuteApi(),
      RaftMembers: raftEnvironment.RAFT_MEMBERS ?? '',
    };
    for (const name of FUNCTION_NAMES) outputs[`${pascal(name)}FunctionName`] = this.functions[name].functionName;
    for (const [outputId, value] of Object.entries(outputs)) new CfnOutput(this, outputId, { value });
  }

  private pipelineFunction(
    name: FunctionName,
    options: FunctionOptions,
    config: InfraConfig,
    raftCluster: RaftClusterAccess | undefined,
  ): NodejsFunction {
    const id = pascal(name);
    const logGroup = named(
      new logs.LogGroup(this, `${id}LogGroup`, {
        retention: config.logRetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    );
    // Own role instead of AWSLambdaBasicExecutionRole (logs:* on *): write to this function's log group only.
    const role = new iam.Role(this, `${id}FunctionRole`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${name} function`,
    });
    logGroup.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents');
    const inVpc = options.inRaftVpc === true && raftCluster !== undefined;
    const fn = named(
      new NodejsFunction(this, `${id}Function`, {
        entry: path.join(FUNCTIONS_DIR, name, 'handler.ts'),
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
        },
        ...(inVpc
          ? { vpc: raftCluster.vpc, vpcSubnets: raftCluster.subnets, securityGroups: [raftCluster.clientSecurityGroup] }
          : {}),
      }),
    );
    NagSuppressions.addResourceSuppressions(fn, [
      {
        id: 'AwsSolutions-L1',
        reason: 'nodejs22.x is the runtime the pipeline is specified and tested for (issue 3); 24.x is not adopted.',
      },
    ]);
    if (inVpc) {
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

  private monitoring(config: InfraConfig): void {
    const alarmTopic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Trading pipeline alarms',
      enforceSSL: true,
      masterKey: kms.Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
    });
    if (config.alarmEmail !== undefined) {
      alarmTopic.addSubscription(new snsSubscriptions.EmailSubscription(config.alarmEmail));
    }
    const alarmAction = new cloudwatchActions.SnsAction(alarmTopic);
    const alarm = (alarmId: string, metric: cloudwatch.Metric, threshold: number, description: string) => {
      const created = metric.createAlarm(this, alarmId, {
        alarmDescription: description,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(alarmAction);
      return created;
    };
    const minute = Duration.minutes(1);

    const iteratorAge = this.functions.process.metric('IteratorAge', { statistic: 'Maximum', period: minute });
    alarm(
      'ProcessIteratorAgeAlarm',
      iteratorAge,
      config.iteratorAgeAlarmMs,
      `process is falling behind the tick stream (iterator age >= ${config.iteratorAgeAlarmMs} ms)`,
    );
    const dlqDepth = (queue: sqs.Queue) => queue.metricApproximateNumberOfMessagesVisible({ period: minute });
    const deadLetters: [string, sqs.Queue, string][] = [
      ['CommandsDlqDepthAlarm', this.commandsDlq, 'order commands that execute could not process'],
      ['EventsDlqDepthAlarm', this.eventsDlq, 'order events a consumer could not process'],
      ['ProcessFailureQueueDepthAlarm', this.processFailureQueue, 'tick batches process gave up on'],
    ];
    for (const [alarmId, queue, what] of deadLetters) alarm(alarmId, dlqDepth(queue), 1, `Dead letters: ${what}`);
    for (const name of FUNCTION_NAMES) {
      const fn = this.functions[name];
      const id = pascal(name);
      alarm(`${id}ErrorsAlarm`, fn.metricErrors({ period: minute, statistic: 'Sum' }), 1, `${name} function errors`);
      alarm(
        `${id}ThrottlesAlarm`,
        fn.metricThrottles({ period: minute, statistic: 'Sum' }),
        1,
        `${name} function throttled`,
      );
    }

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    const perFunction = (title: string, metricOf: (fn: NodejsFunction) => cloudwatch.IMetric) =>
      new cloudwatch.GraphWidget({
        title,
        width: 8,
        left: FUNCTION_NAMES.map((name) => metricOf(this.functions[name])),
      });
    // Powertools EMF metrics carry the function's service name as their one dimension.
    const pipelineMetric = (service: FunctionName, metricName: string, label: string, statistic = 'Sum') =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        statistic,
        period: minute,
        label,
        dimensionsMap: { service },
      });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Ticks in (Kinesis)',
        width: 8,
        left: [this.stream.metricIncomingRecords({ period: minute, statistic: 'Sum' })],
      }),
      new cloudwatch.GraphWidget({ title: 'process iterator age (ms)', width: 8, left: [iteratorAge] }),
      new cloudwatch.GraphWidget({
        title: 'Queue depth',
        width: 8,
        left: [this.commandsQueue, this.eventsQueue, this.commandsDlq, this.eventsDlq, this.processFailureQueue].map(
          (queue) => queue.metricApproximateNumberOfMessagesVisible({ period: minute, label: queue.node.id }),
        ),
      }),
    );
    dashboard.addWidgets(
      perFunction('Invocations', (fn) => fn.metricInvocations({ period: minute, label: fn.node.id })),
      perFunction('Errors', (fn) => fn.metricErrors({ period: minute, label: fn.node.id })),
      perFunction('Throttles', (fn) => fn.metricThrottles({ period: minute, label: fn.node.id })),
    );
    dashboard.addWidgets(
      perFunction('Duration p99 (ms)', (fn) =>
        fn.metricDuration({ period: minute, statistic: 'p99', label: fn.node.id }),
      ),
      new cloudwatch.GraphWidget({
        title: 'Orders',
        width: 8,
        left: [
          pipelineMetric('process', MetricName.OrdersGenerated, 'generated'),
          pipelineMetric('execute', MetricName.OrdersAccepted, 'accepted'),
          pipelineMetric('execute', MetricName.OrdersRejected, 'rejected'),
          pipelineMetric('execute', MetricName.DuplicatesCaught, 'duplicates caught'),
        ],
        right: [pipelineMetric('execute', MetricName.TickToExecutionLatency, 'tick→execution p99 (ms)', 'p99')],
      }),
      new cloudwatch.GraphWidget({
        title: 'Ticks and poison input',
        width: 8,
        left: [
          pipelineMetric('ingest', MetricName.TicksIngested, 'ingested'),
          pipelineMetric('ingest', MetricName.TicksRejected, 'rejected at ingest'),
          pipelineMetric('process', MetricName.TicksProcessed, 'processed'),
        ],
        right: [
          pipelineMetric('process', MetricName.PoisonRecords, 'poison records'),
          pipelineMetric('execute', MetricName.PoisonCommands, 'poison commands'),
        ],
      }),
    );
  }
}

interface FunctionOptions {
  description: string;
  timeout: Duration;
  environment: Record<string, string>;
  /** Placed in the Raft cluster's VPC (with its client security group) when the cluster is deployed. */
  inRaftVpc?: boolean;
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** Gives the (only) event source mapping of a function a readable logical id. */
function nameEventSourceMapping(fn: lambda.Function, logicalId: string): void {
  const mapping = fn.node.children.find((child) => child instanceof lambda.EventSourceMapping);
  const resource = mapping?.node.defaultChild;
  if (resource instanceof CfnResource) resource.overrideLogicalId(logicalId);
}

/** Keeps the construct id as the CloudFormation logical id, so the template names match the architecture. */
function named<T extends IConstruct>(construct: T): T {
  const resource = construct.node.defaultChild;
  if (resource instanceof CfnResource) resource.overrideLogicalId(construct.node.id);
  else if (construct instanceof CfnResource) construct.overrideLogicalId(construct.node.id);
  return construct;
}
