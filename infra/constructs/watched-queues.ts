import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

/**
 * One stage of the pipeline as an operator watches it: the queue its work waits in (none for a Kinesis consumer,
 * whose backlog is the stream's iterator age) and where what it could not process ends (a DLQ, or the on-failure
 * destination of a stream consumer). The one list both the alarms (PipelineObservability) and the operator's
 * GET /admin/cluster read, so a new queue cannot be watched by one and forgotten by the other.
 */
export interface WatchedQueue {
  /** A short stage name: what GET /admin/cluster reports it as. */
  name: string;
  queue?: sqs.IQueue;
  deadLetters: sqs.IQueue;
  /** What lands in `deadLetters`, for the alarm's description. */
  what: string;
}

/** The environment the admin function reads its watched queues from: `[{name, url?, deadLettersUrl}]` as JSON. */
export function watchedQueuesEnvironment(queues: readonly WatchedQueue[]): Record<string, string> {
  const list = queues.map(({ name, queue, deadLetters }) => ({
    name,
    ...(queue ? { url: queue.queueUrl } : {}),
    deadLettersUrl: deadLetters.queueUrl,
  }));
  return { WATCHED_QUEUES: JSON.stringify(list) };
}

/** Reading depths only: one statement, `sqs:GetQueueAttributes` on the watched queues and dead-letter queues. */
export function grantQueueDepths(grantee: iam.IGrantable, queues: readonly WatchedQueue[]): void {
  const arns = queues.flatMap(({ queue, deadLetters }) => [...(queue ? [queue.queueArn] : []), deadLetters.queueArn]);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['sqs:GetQueueAttributes'], resources: arns }),
  );
}
