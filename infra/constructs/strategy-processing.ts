import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { createPipelineFunction } from './pipeline-function';
import { pipelineTable } from './storage';
import { consumeTickStream } from './tick-stream-consumer';

export interface StrategyProcessingProps {
  config: InfraConfig;
  /** The tick stream process reads. */
  stream: kinesis.IStream;
  /** The order commands queue process sends to. */
  commandsQueue: sqs.IQueue;
}

/**
 * The strategy: the process function reading the tick stream, its per-symbol state table, and the queue that
 * receives the poison records it sets aside and the tick batches its mapping gives up on.
 */
export class StrategyProcessing extends ResourceGroup {
  readonly processFailureQueue: sqs.Queue;
  readonly strategyTable: dynamodb.Table;
  readonly processFunction: NodejsFunction;

  constructor(scope: Construct, id: string, { config, stream, commandsQueue }: StrategyProcessingProps) {
    super(scope, id);
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
    this.processFailureQueue = consumeTickStream(this, process, config, stream, {
      failureQueue: 'ProcessFailureQueue',
      mapping: 'ProcessTicksMapping',
      ...(config.kinesisEnhancedFanOut
        ? { fanOut: { consumer: 'ProcessTicksConsumer', consumerName: 'process' } }
        : {}),
    });
    // Poison records go to the failure queue from process itself, with the record and the reason, at once.
    process.addEnvironment('FAILURE_QUEUE_URL', this.processFailureQueue.queueUrl);
    this.processFailureQueue.grantSendMessages(process);
  }
}
