import { Duration, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  KinesisConsumerEventSource,
  KinesisEventSource,
  SqsDlq,
  type KinesisEventSourceProps,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { named, ResourceGroup } from './logical-ids';
import { createPipelineFunction, nameEventSourceMapping } from './pipeline-function';
import { pipelineTable } from './storage';

export interface StrategyProcessingProps {
  config: InfraConfig;
  /** The tick stream process reads. */
  stream: kinesis.IStream;
  /** The order commands queue process sends to. */
  commandsQueue: sqs.IQueue;
}

/**
 * The strategy: the process function reading the tick stream, its per-symbol state table, and the queue that
 * receives the tick batches it gives up on.
 */
export class StrategyProcessing extends ResourceGroup {
  readonly processFailureQueue: sqs.Queue;
  readonly strategyTable: dynamodb.Table;
  readonly processFunction: NodejsFunction;

  constructor(scope: Construct, id: string, { config, stream, commandsQueue }: StrategyProcessingProps) {
    super(scope, id);
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
    this.strategyTable = pipelineTable(this, 'StrategyStateTable', config, { partitionKey: 'symbol' });

    const process = createPipelineFunction(this, 'process', config, {
      description: 'Runs the per-symbol strategy over the tick stream; sends order commands',
      timeout: Duration.seconds(config.processTimeoutSeconds),
      environment: {
        STRATEGY_TABLE_NAME: this.strategyTable.tableName,
        COMMANDS_QUEUE_URL: commandsQueue.queueUrl,
        STRATEGY_FAST_WINDOW: String(config.strategyFastWindow),
        STRATEGY_SLOW_WINDOW: String(config.strategySlowWindow),
        STRATEGY_ORDER_QUANTITY: String(config.strategyOrderQuantity),
        TRADING_ACCOUNT: config.tradingAccount,
        ...(config.strategyName === undefined ? {} : { STRATEGY_NAME: config.strategyName }),
      },
    });
    this.processFunction = process;
    // Strategy state: consistent read, then a put conditional on the last applied sequence number.
    this.strategyTable.grant(process, 'dynamodb:GetItem', 'dynamodb:PutItem');
    commandsQueue.grantSendMessages(process);
    const mappingProps: KinesisEventSourceProps = {
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: config.kinesisBatchSize,
      maxBatchingWindow: Duration.seconds(config.kinesisBatchingWindowSeconds),
      bisectBatchOnError: true,
      retryAttempts: config.kinesisRetryAttempts,
      maxRecordAge: Duration.seconds(config.kinesisMaxRecordAgeSeconds),
      onFailure: new SqsDlq(this.processFailureQueue),
      reportBatchItemFailures: true,
      parallelizationFactor: config.kinesisParallelizationFactor,
    };
    // Enhanced fan-out: the mapping reads through a consumer of its own (a dedicated 2 MiB/s per shard, pushed)
    // instead of polling the stream's shared read quota. The consumer is stateless: toggling it loses no data,
    // though the new mapping starts at TRIM_HORIZON and the strategy's sequence check skips what it has seen.
    process.addEventSource(
      config.kinesisEnhancedFanOut
        ? new KinesisConsumerEventSource(
            new kinesis.StreamConsumer(this, 'ProcessTicksConsumer', {
              stream,
              streamConsumerName: `${Stack.of(this).stackName}-process`,
            }),
            mappingProps,
          )
        : new KinesisEventSource(stream, mappingProps),
    );
    nameEventSourceMapping(process, 'ProcessTicksMapping');
  }
}
