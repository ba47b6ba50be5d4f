import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { MetricName } from '../../shared/powertools';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { FUNCTION_NAMES, METRICS_NAMESPACE, pascal, type FunctionName } from './pipeline-function';
import type { WatchedQueue } from './watched-queues';

export interface PipelineObservabilityProps {
  config: InfraConfig;
  stream: kinesis.IStream;
  functions: Record<FunctionName, lambda.IFunction>;
  queues: readonly WatchedQueue[];
}

const minute = Duration.minutes(1);

/** Alarms to an SNS topic (optionally e-mailed) and the pipeline's CloudWatch dashboard. */
export class PipelineObservability extends ResourceGroup {
  constructor(scope: Construct, id: string, props: PipelineObservabilityProps) {
    super(scope, id);
    const iteratorAge = props.functions.process.metric('IteratorAge', { statistic: 'Maximum', period: minute });
    this.alarms(props, iteratorAge);
    this.dashboard(props, iteratorAge);
  }

  private alarms({ config, functions, queues }: PipelineObservabilityProps, iteratorAge: cloudwatch.Metric): void {
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
    };

    alarm(
      'ProcessIteratorAgeAlarm',
      iteratorAge,
      config.iteratorAgeAlarmMs,
      `process is falling behind the tick stream (iterator age >= ${config.iteratorAgeAlarmMs} ms)`,
    );
    // Both stream consumers retry a failing batch until the record age limit, holding their shard meanwhile: the
    // iterator age is how a held shard shows (market-data's holds no order back, but its ticks and candles stop).
    alarm(
      'MarketDataIteratorAgeAlarm',
      functions['market-data'].metric('IteratorAge', { statistic: 'Maximum', period: minute }),
      config.iteratorAgeAlarmMs,
      `market-data is falling behind the tick stream (iterator age >= ${config.iteratorAgeAlarmMs} ms)`,
    );
    // One alarm per dead-letter queue, named after it (CommandsDlqDepthAlarm, EventsDlqDepthAlarm, …).
    for (const { deadLetters, what } of queues) {
      const metric = deadLetters.metricApproximateNumberOfMessagesVisible({ period: minute });
      alarm(`${deadLetters.node.id}DepthAlarm`, metric, 1, `Dead letters: ${what}`);
    }
    for (const name of FUNCTION_NAMES) {
      const fn = functions[name];
      const id = pascal(name);
      alarm(`${id}ErrorsAlarm`, fn.metricErrors({ period: minute, statistic: 'Sum' }), 1, `${name} function errors`);
      alarm(
        `${id}ThrottlesAlarm`,
        fn.metricThrottles({ period: minute, statistic: 'Sum' }),
        1,
        `${name} function throttled`,
      );
    }
  }

  private dashboard({ stream, functions, queues }: PipelineObservabilityProps, iteratorAge: cloudwatch.Metric): void {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    const perFunction = (title: string, metricOf: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
      new cloudwatch.GraphWidget({ title, width: 8, left: FUNCTION_NAMES.map((name) => metricOf(functions[name])) });
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
    type Series = Parameters<typeof pipelineMetric>;
    const pipelineGraph = (title: string, left: Series[], right: Series[]) =>
      new cloudwatch.GraphWidget({
        title,
        width: 8,
        left: left.map((series) => pipelineMetric(...series)),
        right: right.map((series) => pipelineMetric(...series)),
      });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Ticks in (Kinesis)',
        width: 8,
        left: [stream.metricIncomingRecords({ period: minute, statistic: 'Sum' })],
      }),
      new cloudwatch.GraphWidget({ title: 'process iterator age (ms)', width: 8, left: [iteratorAge] }),
      new cloudwatch.GraphWidget({
        title: 'Queue depth',
        width: 8,
        left: [
          ...queues.flatMap(({ queue }) => (queue ? [queue] : [])),
          ...queues.map(({ deadLetters }) => deadLetters),
        ].map((queue) => queue.metricApproximateNumberOfMessagesVisible({ period: minute, label: queue.node.id })),
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
      pipelineGraph(
        'Orders',
        [
          ['process', MetricName.OrdersGenerated, 'generated'],
          ['execute', MetricName.OrdersAccepted, 'accepted'],
          ['execute', MetricName.OrdersRejected, 'rejected'],
          ['execute', MetricName.DuplicatesCaught, 'duplicates caught'],
        ],
        [['execute', MetricName.TickToExecutionLatency, 'tick→execution p99 (ms)', 'p99']],
      ),
      pipelineGraph(
        'Ticks and poison input',
        [
          ['ingest', MetricName.TicksIngested, 'ingested'],
          ['ingest', MetricName.TicksRejected, 'rejected at ingest'],
          ['process', MetricName.TicksProcessed, 'processed'],
        ],
        [
          ['process', MetricName.PoisonRecords, 'poison records'],
          ['execute', MetricName.PoisonCommands, 'poison commands'],
        ],
      ),
    );
  }
}
