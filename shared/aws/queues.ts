import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Messages a queue holds, visible or in flight (0 for a queue the stack does not have). The status screen,
 * verify and the tests all read queue depth this way.
 */
export async function queueDepth(sqs: SQSClient, url: string | undefined): Promise<number> {
  if (!url) return 0;
  const { visible, inFlight } = await depths(sqs, url);
  return visible + inFlight;
}

/** A pipeline stage's queues as the admin function's WATCHED_QUEUES names them (infra/constructs/watched-queues.ts). */
export interface WatchedQueueUrls {
  name: string;
  /** Absent for a stream consumer: its backlog is the stream's iterator age, not a queue. */
  url?: string;
  deadLettersUrl: string;
}

/** One stage's depths now: waiting (visible), in flight (received, not yet deleted), dead letters — or why not. */
export type QueueReport =
  | { name: string; waiting: number | null; inFlight: number | null; deadLetters: number }
  | { name: string; error: string };

async function depths(sqs: SQSClient, url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes: a } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(a?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

/** Every watched stage's depths, read in parallel; a queue that cannot be read is reported with its error. */
export function watchedQueueReport(sqs: SQSClient, queues: readonly WatchedQueueUrls[]): Promise<QueueReport[]> {
  return Promise.all(
    queues.map(async ({ name, url, deadLettersUrl }): Promise<QueueReport> => {
      try {
        const [work, dead] = await Promise.all([url ? depths(sqs, url) : undefined, depths(sqs, deadLettersUrl)]);
        return {
          name,
          waiting: work?.visible ?? null,
          inFlight: work?.inFlight ?? null,
          deadLetters: dead.visible + dead.inFlight,
        };
      } catch (error) {
        return { name, error: (error as Error).message };
      }
    }),
  );
}

/**
 * Every message a queue holds now, left in the queue: each receive hides what it took for a moment, and the
 * messages are made visible again at once. For a queue nobody consumes (a failure destination), where reading is
 * a diagnosis; at most `max` messages.
 */
export async function peekMessages(sqs: SQSClient, url: string, max = 10_000): Promise<string[]> {
  const bodies: string[] = [];
  const handles: string[] = [];
  while (bodies.length < max) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 0 }),
    );
    if (!Messages?.length) break;
    for (const m of Messages) {
      bodies.push(m.Body ?? '');
      if (m.ReceiptHandle) handles.push(m.ReceiptHandle);
    }
  }
  for (let i = 0; i < handles.length; i += 10) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: handles.slice(i, i + 10).map((h, n) => ({ Id: String(n), ReceiptHandle: h, VisibilityTimeout: 0 })),
      }),
    );
  }
  return bodies;
}
