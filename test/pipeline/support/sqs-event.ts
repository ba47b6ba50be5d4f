import { ReceiveMessageCommand, SendMessageCommand, DeleteMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { CORRELATION_ID_ATTRIBUTE, type OrderCommand } from '../../../shared/domain/command';

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
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 1,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: 1,
    }),
  );
  const message = received.Messages?.[0];
  if (!message) throw new Error(`nothing received from ${queueUrl}`);
  await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
  const queueName = queueUrl.split('/').at(-1) as string;
  return {
    messageId: message.MessageId as string,
    receiptHandle: message.ReceiptHandle as string,
    body: message.Body as string,
    attributes: {
      ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: message.Attributes?.SenderId ?? 'AROAEXAMPLE:process',
      ApproximateFirstReceiveTimestamp: message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      MessageGroupId: message.Attributes?.MessageGroupId ?? group,
      MessageDeduplicationId: message.Attributes?.MessageDeduplicationId ?? deduplicationId,
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
    eventSourceARN: `arn:aws:sqs:us-east-1:123456789012:${queueName}`,
    awsRegion: 'us-east-1',
  };
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

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
