import {
  SendMessageBatchCommand,
  type BatchResultErrorEntry,
  type MessageAttributeValue,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sleep as defaultSleep } from '../util/wait';

/** SQS's limit on the entries of one SendMessageBatch call. */
export const SQS_BATCH_LIMIT = 10;
const DEFAULT_ATTEMPTS = 4;

export interface FifoMessage {
  body: string;
  groupId: string;
  deduplicationId: string;
  attributes?: Record<string, MessageAttributeValue>;
}

export interface FifoSendOutcome {
  /** Indexes (into the messages given) that SQS still refused after every attempt, with its reason. */
  failed: { index: number; reason: string; senderFault: boolean }[];
}

/**
 * Sends messages to a FIFO queue with SendMessageBatch, ten to a call. SendMessageBatch can fail some entries
 * only; those are resent alone (with backoff) and nothing else is sent twice. What still fails after the last
 * attempt is returned, not thrown, so a caller can fail exactly the work those messages stood for. A resend is
 * safe: every message carries its deduplication id.
 */
export async function sendFifoBatch(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly FifoMessage[],
  opts: { attempts?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<FifoSendOutcome> {
  const attempts = opts.attempts ?? DEFAULT_ATTEMPTS;
  const sleep = opts.sleep ?? defaultSleep;
  const failed: FifoSendOutcome['failed'] = [];
  // One call after another: a group's messages may span two calls, and SQS orders a group by arrival.
  for (let start = 0; start < messages.length; start += SQS_BATCH_LIMIT) {
    const chunk = messages.slice(start, start + SQS_BATCH_LIMIT).map((m, i) => ({ m, index: start + i }));
    failed.push(...(await sendChunk(sqs, queueUrl, chunk, attempts, sleep)).failed);
  }
  return { failed };
}

async function sendChunk(
  sqs: SQSClient,
  queueUrl: string,
  chunk: { m: FifoMessage; index: number }[],
  attempts: number,
  sleep: (ms: number) => Promise<void>,
): Promise<FifoSendOutcome> {
  const entry = ({ m, index }: { m: FifoMessage; index: number }): SendMessageBatchRequestEntry => ({
    Id: String(index),
    MessageBody: m.body,
    MessageGroupId: m.groupId,
    MessageDeduplicationId: m.deduplicationId,
    ...(m.attributes ? { MessageAttributes: m.attributes } : {}),
  });
  const reason = (f: BatchResultErrorEntry) => ({
    index: Number(f.Id),
    reason: `${f.Code}: ${f.Message ?? ''}`.trim(),
    senderFault: f.SenderFault === true,
  });
  const givenUp: FifoSendOutcome['failed'] = [];
  let pending = chunk.map(entry);
  for (let attempt = 1; pending.length > 0; attempt++) {
    const failed = (await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }))).Failed ?? [];
    // A sender fault (the entry itself is wrong) will not succeed on a resend; it is given up at once.
    const retry = attempt < attempts ? failed.filter((f) => !f.SenderFault) : [];
    givenUp.push(...failed.filter((f) => !retry.includes(f)).map(reason));
    const again = new Set(retry.map((f) => f.Id));
    pending = pending.filter((e) => again.has(e.Id));
    if (pending.length > 0) await sleep(50 * 2 ** attempt);
  }
  return { failed: givenUp };
}
