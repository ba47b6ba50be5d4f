import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { named, ResourceGroup } from './logical-ids';
import { createPipelineFunction } from './pipeline-function';

/**
 * Ticks in: the TicksStream, the ingest function that validates ticks and writes them there (POST /ticks is
 * routed to it by TradingApi), and the schedule that runs the seeded market feed in ingest.
 */
export class TickIngestion extends ResourceGroup {
  readonly stream: kinesis.Stream;
  readonly ingestFunction: NodejsFunction;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    this.stream = named(
      new kinesis.Stream(this, 'TicksStream', {
        streamMode: kinesis.StreamMode.PROVISIONED,
        shardCount: config.shardCount,
        retentionPeriod: Duration.hours(config.streamRetentionHours),
        encryption: kinesis.StreamEncryption.MANAGED,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    );
    this.ingestFunction = createPipelineFunction(this, 'ingest', config, {
      description: 'Validates ticks (POST /ticks) and runs the scheduled market feed; writes to TicksStream',
      timeout: Duration.seconds(config.ingestTimeoutSeconds),
      environment: {
        TICKS_STREAM_NAME: this.stream.streamName,
        FEED_SYMBOLS: config.feedSymbols.join(','),
        FEED_TICKS_PER_SECOND: String(config.feedTicksPerSecond),
        FEED_SEED: String(config.feedSeed),
      },
    });
    // A failed feed run is not re-run by Lambda's async retries either (they would overlap the next run).
    this.ingestFunction.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    this.stream.grantWrite(this.ingestFunction);
    this.feedSchedule(config);
  }

  /** EventBridge Scheduler → ingest, every `feedRateMinutes`. */
  private feedSchedule(config: InfraConfig): void {
    const feedScheduleRole = new iam.Role(this, 'FeedScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Lets EventBridge Scheduler invoke the ingest function (market feed)',
    });
    named(
      new scheduler.Schedule(this, 'FeedSchedule', {
        description: 'Runs the seeded market feed in ingest for the length of one invocation',
        schedule: scheduler.ScheduleExpression.rate(Duration.minutes(config.feedRateMinutes)),
        enabled: config.feedEnabled,
        target: new LambdaInvoke(this.ingestFunction, {
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
  }
}
