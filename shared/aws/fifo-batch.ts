import { PublishBatchCommand, type SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sleep as defaultSleep } from '../util/wait';

/** SQS's limit on the entries of one SendMessageBatch call (SNS PublishBatch has the same). */
export const SQS_BATCH_LIMIT = 10;
const DEFAULT_ATTEMPTS = 4;

/** A message attribute as both SQS and SNS take it. */
export interface FifoAttribute {
  DataType: string;
  StringValue?: string;
}

/** A message for SendMessageBatch; a standard queue's carries no group or deduplication id. */
export interface QueueMessage {
  body: string;
  groupId?: string;
  deduplicationId?: string;
  attributes?: Record<string, FifoAttribute>;
}

export interface FifoMessage extends QueueMessage {
  groupId: string;
  deduplicationId: string;
}

export interface FifoSendOutcome {
  /** Indexes (into the messages given) that were still refused after every attempt, with the reason. */
  failed: { index: number; reason: string; senderFault: boolean }[];
}

/** One entry of a batch call, `Id` its index in the messages given. */
type Entry = { Id: string; m: QueueMessage };
/** An entry the service refused (SendMessageBatch and PublishBatch answer in this shape). */
type Refused = {
  Id?: string | undefined;
  Code?: string | undefined;
  Message?: string | undefined;
  SenderFault?: boolean | undefined;
};
/** One batch call to a destination (queue or topic): sends up to ten entries, returns the ones refused. */
type BatchCall = (entries: Entry[]) => Promise<Refused[]>;

interface SendOptions {
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Sends messages to a FIFO queue with SendMessageBatch, ten to a call. See sendInBatches for what is retried.
 */
export function sendFifoBatch(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly FifoMessage[],
  opts: SendOptions = {},
): Promise<FifoSendOutcome> {
  return sendMessageBatch(sqs, queueUrl, messages, opts);
}

/**
 * Sends messages to a queue, FIFO or standard, with SendMessageBatch, ten to a call; a message's group and
 * deduplication ids go with it when it has them. See sendInBatches for what is retried.
 */
export function sendMessageBatch(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly QueueMessage[],
  opts: SendOptions = {},
): Promise<FifoSendOutcome> {
  const call: BatchCall = async (entries) =>
    (
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map(({ Id, m }) => ({
            Id,
            MessageBody: m.body,
            ...(m.groupId === undefined ? {} : { MessageGroupId: m.groupId }),
            ...(m.deduplicationId === undefined ? {} : { MessageDeduplicationId: m.deduplicationId }),
            ...(m.attributes ? { MessageAttributes: m.attributes } : {}),
          })),
        }),
      )
    ).Failed ?? [];
  return sendInBatches(call, messages, opts);
}

/**
 * Publishes messages to an SNS FIFO topic with PublishBatch, ten to a call; the topic fans each out to every
 * subscribed FIFO queue in its group's order. See sendInBatches for what is retried.
 */
export function publishFifoBatch(
  sns: SNSClient,
  topicArn: string,
  messages: readonly FifoMessage[],
  opts: SendOptions = {},
): Promise<FifoSendOutcome> {
  const call: BatchCall = async (entries) =>
    (
      await sns.send(
        new PublishBatchCommand({
          TopicArn: topicArn,
          PublishBatchRequestEntries: entries.map(({ Id, m }) => ({
            Id,
            Message: m.body,
            MessageGroupId: m.groupId,
            MessageDeduplicationId: m.deduplicationId,
            ...(m.attributes ? { MessageAttributes: m.attributes } : {}),
          })),
        }),
      )
    ).Failed ?? [];
  return sendInBatches(call, messages, opts);
}

/**
 * Sends ten messages to a call. A batch call can fail some entries only; those are resent alone (with backoff) and
 * nothing else is sent twice. What still fails after the last attempt is returned, not thrown, so a caller can fail
 * exactly the work those messages stood for. A resend is safe: a refused entry was not enqueued (and a FIFO message
 * carries its deduplication id besides). A call that fails whole throws: which chunks got there before it is not
 * told.
 */
async function sendInBatches(
  call: BatchCall,
  messages: readonly QueueMessage[],
  opts: SendOptions,
): Promise<FifoSendOutcome> {
  const attempts = opts.attempts ?? DEFAULT_ATTEMPTS;
  const sleep = opts.sleep ?? defaultSleep;
  const failed: FifoSendOutcome['failed'] = [];
  // One call after another: a group's messages may span two calls, and a FIFO orders a group by arrival.
  for (let start = 0; start < messages.length; start += SQS_BATCH_LIMIT) {
    const chunk = messages.slice(start, start + SQS_BATCH_LIMIT).map((m, i) => ({ Id: String(start + i), m }));
    failed.push(...(await sendChunk(call, chunk, attempts, sleep)));
  }
  return { failed };
}

async function sendChunk(
  call: BatchCall,
  chunk: Entry[],
  attempts: number,
  sleep: (ms: number) => Promise<void>,
): Promise<FifoSendOutcome['failed']> {
  const reason = (f: Refused) => ({
    index: Number(f.Id),
    reason: `${f.Code}: ${f.Message ?? ''}`.trim(),
    senderFault: f.SenderFault === true,
  });
  const givenUp: FifoSendOutcome['failed'] = [];
  let pending = chunk;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const failed = await call(pending);
    // A sender fault (the entry itself is wrong) will not succeed on a resend; it is given up at once.
    const retry = attempt < attempts ? failed.filter((f) => !f.SenderFault) : [];
    givenUp.push(...failed.filter((f) => !retry.includes(f)).map(reason));
    const again = new Set(retry.map((f) => f.Id));
    pending = pending.filter((e) => again.has(e.Id));
    if (pending.length > 0) await sleep(50 * 2 ** attempt);
  }
  return givenUp;
}
