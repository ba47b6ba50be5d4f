import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record,
} from '@aws-sdk/client-kinesis';
import { CreateTopicCommand, DeleteTopicCommand, SubscribeCommand, type SNSClient } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { orderRecordsTable } from '../../../../shared/aws/order-records';
import { waitFor } from '../../../../shared/util/wait';

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

export async function createStream(kinesis: KinesisClient, name: string, shards = 1): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitFor(`stream ${name} to become ACTIVE`, 10_000, async () => {
    const d = await kinesis.send(new DescribeStreamCommand({ StreamName: name }));
    return d.StreamDescription?.StreamStatus === 'ACTIVE';
  });
}

export async function deleteStream(kinesis: KinesisClient, name: string): Promise<void> {
  await kinesis.send(new DeleteStreamCommand({ StreamName: name })).catch(() => undefined);
}

/** Every record in every shard, from the start (TRIM_HORIZON), with the shard it came from. */
export async function readAllRecords(
  kinesis: KinesisClient,
  streamName: string,
): Promise<{ shardId: string; record: _Record }[]> {
  const d = await kinesis.send(new DescribeStreamCommand({ StreamName: streamName }));
  const out: { shardId: string; record: _Record }[] = [];
  for (const shard of d.StreamDescription?.Shards ?? []) {
    const shardId = shard.ShardId as string;
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) out.push({ shardId, record });
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

/**
 * A table keyed the way CONTRACTS.md says: OrdersTable by `id`, with the order history's two indexes
 * (orderRecordsTable, as infra/constructs/order-execution.ts declares them; pipeline-stack.test.ts holds the template
 * to the same keys); StrategyStateTable by `symbol`.
 */
export async function createTable(dynamodb: DynamoDBClient, name: string, key: 'id' | 'symbol'): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand(
      key === 'id'
        ? orderRecordsTable(name)
        : {
            TableName: name,
            KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
          },
    ),
  );
}

/** A table with a string hash key and a range key (the market-data tables: see shared/aws/market-data-store.ts). */
export async function createRangeTable(
  dynamodb: DynamoDBClient,
  name: string,
  hash: string,
  range: { name: string; type: 'S' | 'N' },
): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [
        { AttributeName: hash, KeyType: 'HASH' },
        { AttributeName: range.name, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: hash, AttributeType: 'S' },
        { AttributeName: range.name, AttributeType: range.type },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

export async function deleteTable(dynamodb: DynamoDBClient, name: string): Promise<void> {
  await dynamodb.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined);
}

export async function createFifoQueue(sqs: SQSClient, name: string): Promise<string> {
  const created = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
    }),
  );
  return created.QueueUrl as string;
}

/** A standard queue (a stream consumer's failure queue); returns its URL. */
export async function createStandardQueue(sqs: SQSClient, name: string): Promise<string> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  return created.QueueUrl as string;
}

export async function deleteQueue(sqs: SQSClient, url: string): Promise<void> {
  await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
}

/** An SNS FIFO topic (explicit dedup ids, as execute sends them); returns its ARN. */
export async function createFifoTopic(sns: SNSClient, name: string): Promise<string> {
  const created = await sns.send(
    new CreateTopicCommand({
      Name: `${name}.fifo`,
      Attributes: { FifoTopic: 'true', ContentBasedDeduplication: 'false' },
    }),
  );
  return created.TopicArn as string;
}

export async function deleteTopic(sns: SNSClient, arn: string): Promise<void> {
  await sns.send(new DeleteTopicCommand({ TopicArn: arn })).catch(() => undefined);
}

/** Subscribes a FIFO queue to a topic with raw message delivery (the body is the message, not an SNS envelope). */
export async function subscribeQueue(
  sns: SNSClient,
  sqs: SQSClient,
  topicArn: string,
  queueUrl: string,
  filterPolicy?: Record<string, unknown>,
): Promise<string> {
  const attributes = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const subscribed = await sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: attributes.Attributes?.QueueArn,
      Attributes: {
        RawMessageDelivery: 'true',
        ...(filterPolicy ? { FilterPolicy: JSON.stringify(filterPolicy) } : {}),
      },
      ReturnSubscriptionArn: true,
    }),
  );
  return subscribed.SubscriptionArn as string;
}

/**
 * Receives and deletes until the queue answers empty, returning every message with all its attributes.
 * (A FIFO queue hands out the next message of a group only once the one before it is deleted.)
 */
export async function drainQueue(sqs: SQSClient, url: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const page = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 300,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (!page.Messages || page.Messages.length === 0) return messages;
    messages.push(...page.Messages);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: page.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}
