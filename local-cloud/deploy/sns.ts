import {
  CreateTopicCommand,
  DeleteTopicCommand,
  SubscribeCommand,
  UnsubscribeCommand,
  type SNSClient,
} from '@aws-sdk/client-sns';

/**
 * AWS::SNS::Topic and AWS::SNS::Subscription on the local SNS (fauxqs, on its SQS port), for the deployer.
 * Creating is idempotent as CloudFormation's resources are: CreateTopic and Subscribe with the same name and
 * attributes answer the existing topic or subscription. The topic's KmsMasterKeyId is not applied (nothing
 * local encrypts at rest); the delivery itself (FIFO order per group, dedup, raw delivery) is what fauxqs emulates.
 */

/** Topic properties that change delivery; CloudFormation gives booleans, SNS takes strings. */
const TOPIC_ATTRIBUTES = ['FifoTopic', 'ContentBasedDeduplication'] as const;
const SUBSCRIPTION_ATTRIBUTES = ['RawMessageDelivery', 'FilterPolicy', 'FilterPolicyScope', 'RedrivePolicy'] as const;

const asAttribute = (v: unknown): string => (typeof v === 'object' ? JSON.stringify(v) : String(v));

function attributesOf(props: Record<string, unknown>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.filter((n) => props[n] !== undefined).map((n) => [n, asAttribute(props[n])]));
}

/** Creates the topic (resolved properties) and returns its ARN and name; a FIFO topic's name ends in .fifo. */
export async function createTopic(
  sns: SNSClient,
  defaultName: string,
  props: Record<string, unknown>,
): Promise<{ arn: string; name: string }> {
  const fifo = String(props.FifoTopic) === 'true';
  let name = typeof props.TopicName === 'string' ? props.TopicName : defaultName;
  if (fifo && !name.endsWith('.fifo')) name = `${name.slice(0, 251)}.fifo`;
  const created = await sns.send(
    new CreateTopicCommand({ Name: name, Attributes: attributesOf(props, TOPIC_ATTRIBUTES) }),
  );
  if (!created.TopicArn) throw new Error(`SNS CreateTopic ${name} returned no TopicArn`);
  return { arn: created.TopicArn, name };
}

/** Subscribes (resolved properties: TopicArn, Protocol, Endpoint, RawMessageDelivery, …); returns its ARN. */
export async function subscribe(sns: SNSClient, props: Record<string, unknown>): Promise<string> {
  const subscribed = await sns.send(
    new SubscribeCommand({
      TopicArn: String(props.TopicArn),
      Protocol: String(props.Protocol),
      Endpoint: String(props.Endpoint),
      Attributes: attributesOf(props, SUBSCRIPTION_ATTRIBUTES),
      ReturnSubscriptionArn: true,
    }),
  );
  if (!subscribed.SubscriptionArn) throw new Error(`SNS Subscribe to ${String(props.TopicArn)} returned no ARN`);
  return subscribed.SubscriptionArn;
}

export async function deleteTopic(sns: SNSClient, arn: string): Promise<void> {
  await sns.send(new DeleteTopicCommand({ TopicArn: arn }));
}

export async function unsubscribe(sns: SNSClient, arn: string): Promise<void> {
  await sns.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
}
