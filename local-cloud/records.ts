import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sleep } from '../shared/util/wait';
import type { SqsPollerClient } from './runtime/sqs-poller-client';

/**
 * The embedded cloud's durable record of what flowed through the pipeline, so `npm run verify` can run
 * any number of times: every order command the runtime received from the commands queue, and every
 * order event drained from the events queue (the events queue is consumed here — it is the pipeline's
 * output). Both are JSON lines appended before the message is deleted, so a record is at-least-once;
 * the SQS message id tells a redelivery from a second message.
 */
export interface RecordedMessage {
  messageId: string;
  /** SentTimestamp of the message (ms). */
  sentAt: number;
  recordedAt: number;
  body: string;
}

export function recordFiles(dataDir: string): { commands: string; events: string } {
  return { commands: join(dataDir, 'records', 'commands.jsonl'), events: join(dataDir, 'records', 'events.jsonl') };
}

/** What a record keeps of a received message (the SDK's Message and the pollers' both have it). */
export interface ReceivedMessage {
  MessageId?: string;
  Body?: string;
  Attributes?: Partial<Record<string, string>>;
}

export function appendRecords(file: string, messages: readonly ReceivedMessage[]): RecordedMessage[] {
  const now = Date.now();
  const records = messages.map((m) => ({
    messageId: m.MessageId ?? '',
    sentAt: Number(m.Attributes?.SentTimestamp ?? now),
    recordedAt: now,
    body: m.Body ?? '',
  }));
  if (records.length === 0) return records;
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return records;
}

export function readRecords(file: string): RecordedMessage[] {
  if (!existsSync(file)) return [];
  const out: RecordedMessage[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as RecordedMessage);
    } catch {
      // A line cut short by a crash mid-append: its message was not deleted, so it is recorded again later.
    }
  }
  return out;
}

/** Receives everything on the queue, records it, deletes it; resolves with the number of messages when a receive comes back empty. */
export async function drainQueueInto(
  sqs: SQSClient,
  queueUrl: string,
  file: string,
  onRecords?: (r: RecordedMessage[]) => void,
): Promise<number> {
  let total = 0;
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['SentTimestamp'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return total;
    const records = appendRecords(file, messages);
    onRecords?.(records);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
    total += messages.length;
  }
}

/** Keeps draining a queue into a record file until stopped (long polls so an idle queue costs little). */
export class QueueRecorder {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly sqs: SqsPollerClient,
    private readonly queueUrl: string,
    private readonly file: string,
    private readonly onRecords: (r: RecordedMessage[]) => void,
    private readonly onError: (message: string) => void,
  ) {}

  start(concurrency = 2): void {
    const loops = Array.from({ length: concurrency }, () => this.run());
    this.loop = Promise.all(loops).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const messages = await this.sqs.receive(this.queueUrl, {
          maxMessages: 10,
          waitSeconds: 1,
          attributeNames: ['SentTimestamp'],
          signal: this.abort.signal,
        });
        if (messages.length === 0) continue;
        this.onRecords(appendRecords(this.file, messages));
        await this.sqs.deleteBatch(this.queueUrl, messages);
      } catch (err) {
        if (this.stopped) return;
        this.onError(`recording ${this.queueUrl}: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
  }
}
