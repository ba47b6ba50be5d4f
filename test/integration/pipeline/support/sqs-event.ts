import { ReceiveMessageCommand, SendMessageCommand, DeleteMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { CORRELATION_ID_ATTRIBUTE, type OrderCommand } from '../../../../shared/domain/command';
import { parseCommands } from '../../../../shared/domain/execution';

/**
 * Sends a body through a real FIFO queue and returns the received message shaped as the SQS event source
 * mapping delivers it (system attributes, message attributes, md5). The message is deleted from the queue;
 * tests redeliver by invoking again with the same record, as the mapping does after a failure.
 */
export async function deliverThroughQueue(
  sqs: SQSClient,
  queueUrl: string,
  body: string,
  group: string,
  deduplicationId: string,
  correlationId = 'corr-test',
): Promise<SQSRecord> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: deduplicationId,
      MessageAttributes: { [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: correlationId } },
    }),
  );
  const [record] = await receiveRecords(sqs, queueUrl, 1);
  if (!record) throw new Error(`nothing received from ${queueUrl}`);
  return record;
}

/** The eventSourceARN receiveRecords gives a queue's records (the queue's name in a fixed account). */
export const recordArn = (queueUrl: string): string =>
  `arn:aws:sqs:us-east-1:123456789012:${queueUrl.split('/').at(-1) as string}`;

/**
 * Receives up to `max` messages as SQS event records (system and message attributes, md5), deleting them from the
 * queue so the next message of a FIFO group becomes available.
 */
export async function receiveRecords(sqs: SQSClient, queueUrl: string, max = 10): Promise<SQSRecord[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: max,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 1,
    }),
  );
  const records: SQSRecord[] = [];
  for (const message of received.Messages ?? []) {
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    records.push({
      messageId: message.MessageId as string,
      receiptHandle: message.ReceiptHandle as string,
      body: message.Body as string,
      attributes: {
        ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: message.Attributes?.SenderId ?? 'AROAEXAMPLE:process',
        ApproximateFirstReceiveTimestamp: message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        MessageGroupId: message.Attributes?.MessageGroupId as string,
        MessageDeduplicationId: message.Attributes?.MessageDeduplicationId as string,
        ...(message.Attributes?.SequenceNumber ? { SequenceNumber: message.Attributes.SequenceNumber } : {}),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
          name,
          { dataType: value.DataType as string, ...(value.StringValue ? { stringValue: value.StringValue } : {}) },
        ]),
      ),
      md5OfBody: message.MD5OfBody as string,
      eventSource: 'aws:sqs',
      eventSourceARN: recordArn(queueUrl),
      awsRegion: 'us-east-1',
    });
  }
  return records;
}

export function deliverCommand(sqs: SQSClient, queueUrl: string, command: OrderCommand): Promise<SQSRecord> {
  return deliverThroughQueue(
    sqs,
    queueUrl,
    JSON.stringify(command),
    command.order.symbol,
    command.order.orderId,
    command.correlationId,
  );
}

/**
 * A packed message of one group's commands (`{"commands": [...]}`, as process sends a symbol's), through the queue;
 * `commands` may hold poison, so the group is given.
 */
export function deliverPacked(
  sqs: SQSClient,
  queueUrl: string,
  commands: readonly unknown[],
  group: string,
  deduplicationId: string,
): Promise<SQSRecord> {
  return deliverThroughQueue(sqs, queueUrl, JSON.stringify({ commands }), group, deduplicationId);
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

/** The commands a commands-queue message body carries (one, or a symbol's several packed); throws on poison. */
export function commandsIn(body: string): OrderCommand[] {
  return parseCommands(body).map((parsed) => {
    if (!parsed.ok) throw new Error(`not a command: ${parsed.reason}`);
    return parsed.command;
  });
}
