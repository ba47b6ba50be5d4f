import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * Messages a queue holds, visible or in flight (0 for a queue the stack does not have). The status screen,
 * verify and the tests all read queue depth this way.
 */
export async function queueDepth(sqs: SQSClient, url: string | undefined): Promise<number> {
  if (!url) return 0;
  const a = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}
