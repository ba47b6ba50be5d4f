import { Duration, Stack } from 'aws-cdk-lib';
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
import { named } from './logical-ids';
import { nameEventSourceMapping } from './pipeline-function';

export interface TickStreamConsumerIds {
  /** The standard queue receiving the batches the mapping gives up on (where they were, not their data). */
  failureQueue: string;
  /** Logical id of the event source mapping. */
  mapping: string;
  /**
   * Read through an enhanced fan-out consumer of its own: process, when `kinesisEnhancedFanOut` is on. Market data
   * keeps polling: nothing waits on its latency, and its bigger polled batches rewrite each tick slice fewer times.
   */
  fanOut?: {
    /** Construct id of the consumer. */
    consumer: string;
    /** The consumer's name suffix, after the stack name. */
    consumerName: string;
  };
}

/**
 * Makes `fn` a reader of the tick stream with the pipeline's mapping settings — the one home of them, shared by
 * every consumer (process, market-data): partial batch failures, bisect on error, retries until the record age limit
 * (by default), an on-failure queue of its own — where the consumer also sets its poison records aside itself. Each
 * consumer has its own mapping and checkpoint, so one consumer's failures never hold another's shard.
 */
export function consumeTickStream(
  scope: Construct,
  fn: NodejsFunction,
  config: InfraConfig,
  stream: kinesis.IStream,
  ids: TickStreamConsumerIds,
): sqs.Queue {
  const failureQueue = named(
    new sqs.Queue(scope, ids.failureQueue, {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    }),
  );
  NagSuppressions.addResourceSuppressions(failureQueue, [
    {
      id: 'AwsSolutions-SQS3',
      reason:
        'It is itself the dead-letter destination of the Kinesis mapping (on-failure records); ' +
        'no function consumes it, so no receive can fail and need a further DLQ.',
    },
  ]);
  const mappingProps: KinesisEventSourceProps = {
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: config.kinesisBatchSize,
    maxBatchingWindow: Duration.seconds(config.kinesisBatchingWindowSeconds),
    bisectBatchOnError: true,
    // -1 (retry until the record age limit) is the template's default: CDK takes it as no MaximumRetryAttempts.
    ...(config.kinesisRetryAttempts < 0 ? {} : { retryAttempts: config.kinesisRetryAttempts }),
    maxRecordAge: Duration.seconds(config.kinesisMaxRecordAgeSeconds),
    onFailure: new SqsDlq(failureQueue),
    reportBatchItemFailures: true,
    parallelizationFactor: config.kinesisParallelizationFactor,
  };
  // Enhanced fan-out: the mapping reads through a consumer of its own (a dedicated 2 MiB/s per shard, pushed)
  // instead of polling the stream's shared read quota — the more consumers, the more it matters. The consumer is
  // stateless: toggling it loses no data, though the new mapping starts at TRIM_HORIZON and each consumer's
  // idempotence (the strategy's sequence check, market-data's conditional tick writes) skips what it has seen.
  fn.addEventSource(
    ids.fanOut
      ? new KinesisConsumerEventSource(
          new kinesis.StreamConsumer(scope, ids.fanOut.consumer, {
            stream,
            streamConsumerName: `${Stack.of(scope).stackName}-${ids.fanOut.consumerName}`,
          }),
          mappingProps,
        )
      : new KinesisEventSource(stream, mappingProps),
  );
  nameEventSourceMapping(fn, ids.mapping);
  return failureQueue;
}
