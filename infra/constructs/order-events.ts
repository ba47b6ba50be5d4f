import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { named, ResourceGroup } from './logical-ids';

/**
 * ScalingConfig.MaximumConcurrency (Lambda's minimum, 2) of a mapping whose subscription leaves execute's events out
 * (WsOrderEventsQueue): it carries only other publishers' events (the orders function's CANCELED), a few a second at
 * most, and ten pollers kept ten workers cold and polled a mostly empty queue (docs/performance.md).
 */
export const OTHER_PUBLISHERS_MAX_CONCURRENCY = 2;

/**
 * The order events fan-out: execute publishes each order event once to an SNS FIFO topic (group = the order's
 * group, dedup id = orderId), and every consumer reads its own FIFO queue subscribed to it — verify and the
 * status recorder (EventsQueue), the WebSocket notifier — so no consumer takes another's messages.
 * docs/architecture.md argues SNS FIFO over EventBridge.
 */
export class OrderEvents extends ResourceGroup {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    this.topic = named(
      new sns.Topic(this, 'EventsTopic', {
        fifo: true,
        contentBasedDeduplication: false,
        // As on the queues: with high throughput, dedup and the throughput quota go per message group.
        ...(config.fifoHighThroughput ? { fifoThroughputScope: sns.FifoThroughputScope.MESSAGE_GROUP } : {}),
        // The AWS managed key: encrypted at rest at no key cost; SSE-SQS queues subscribe to such a topic as is.
        masterKey: kms.Alias.fromAliasName(this, 'SnsManagedKey', 'alias/aws/sns'),
        enforceSSL: true,
      }),
    );
  }

  /**
   * Subscribes a FIFO queue with raw message delivery: its consumers receive the event JSON as the message body
   * (no SNS envelope), with the group and dedup id the event was published with. `filterPolicy`: only the events
   * whose message attributes match it reach the queue.
   */
  subscribeQueue(queue: sqs.IQueue, filterPolicy?: Record<string, sns.SubscriptionFilter>): void {
    this.topic.addSubscription(
      new subscriptions.SqsSubscription(queue, { rawMessageDelivery: true, ...(filterPolicy ? { filterPolicy } : {}) }),
    );
  }

  grantPublish(grantee: iam.IGrantable): void {
    this.topic.grantPublish(grantee);
  }
}
