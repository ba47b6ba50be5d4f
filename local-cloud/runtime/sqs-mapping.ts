import type { InvokeResult, Invoker, ServiceEndpoints } from './types';
import { sleep } from '../../shared/util/wait';
import { SqsPollerClient, type PolledAttribute, type PolledMessage } from './sqs-poller-client';

/** An SQS event source mapping, with the settings AWS::Lambda::EventSourceMapping takes. */
export interface SqsMappingSpec {
  id: string;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  /**
   * ScalingConfig.MaximumConcurrency (2..1000): how many batches may be in flight at once. Without it the
   * mapping runs a steady DEFAULT_POLLERS (AWS scales with the backlog instead; see pollerCount).
   */
  maximumConcurrency?: number;
}

/**
 * Pollers when ScalingConfig sets no maximum. A standard queue: the five concurrent batches Lambda starts
 * with (it adds more while a backlog lasts). A FIFO queue: Lambda runs as many batches as there are
 * active message groups; the queue itself holds back the groups in flight, so extra pollers here just
 * wait, and ten matches the local function's default concurrency.
 */
export const DEFAULT_POLLERS = { standard: 5, fifo: 10 } as const;

/** Lambda's FIFO limit: a batch of a FIFO queue has at most ten messages. */
const FIFO_MAX_BATCH = 10;
/** The longest long poll SQS allows; Lambda's pollers use it, so an idle queue costs one receive per 20 s per poller. */
const LONG_POLL_SECONDS = 20;

/** Counts of the ReceiveMessage calls a mapping made (the bench reports the share that came back empty). */
export interface SqsMappingStats {
  receives: number;
  emptyReceives: number;
  messages: number;
}

export interface SqsMappingOptions {
  region?: string;
  endpoints?: ServiceEndpoints;
  /** Sees every batch as received, before the invocation (the embedded cloud records the commands for verify). */
  onReceive?: (messages: PolledMessage[]) => void;
  onError?: (message: string) => void;
}

/**
 * Lambda's SQS poller: long-polls the queue, invokes with up to BatchSize messages (gathered within
 * MaximumBatchingWindowInSeconds), deletes what succeeded, and leaves the rest to come back after the
 * visibility timeout — so retries and the move to the dead-letter queue are the queue's own redrive
 * policy, as on AWS. With ReportBatchItemFailures only the reported messages stay; a function error,
 * timeout or crash leaves the whole batch. FIFO group ordering is the queue's: a receive returns up to
 * ten messages of a group in order, and none of the group again while any of them is in flight (the
 * patched fauxqs locks groups as SQS does). A steady number of pollers long-poll for 20 s, as Lambda's do.
 */
export class SqsEventSourceMapping {
  private readonly sqs: SqsPollerClient;
  private readonly loops: Promise<void>[] = [];
  private stopped = false;
  private readonly region: string;
  private readonly abort = new AbortController();
  private readonly counts: SqsMappingStats = { receives: 0, emptyReceives: 0, messages: 0 };

  constructor(
    readonly spec: SqsMappingSpec,
    private readonly fn: Invoker,
    private readonly opts: SqsMappingOptions = {},
  ) {
    validate(spec);
    // Queue URLs from emulators are not always valid endpoints (fauxqs: sqs.<region>.127.0.0.1); the configured endpoint decides.
    this.sqs = SqsPollerClient.forEndpoint(opts.endpoints?.sqs);
    this.region = opts.region ?? process.env.AWS_REGION ?? 'us-east-1';
  }

  /** How many receive-and-invoke loops run: a steady number, as described at DEFAULT_POLLERS. */
  get pollerCount(): number {
    return this.spec.maximumConcurrency ?? (isFifo(this.spec) ? DEFAULT_POLLERS.fifo : DEFAULT_POLLERS.standard);
  }

  start(): void {
    for (let i = 0; i < this.pollerCount; i++) this.loops.push(this.poll());
  }

  stats(): SqsMappingStats {
    return { ...this.counts };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.all(this.loops);
    this.sqs.destroy();
  }

  private async poll(): Promise<void> {
    while (!this.stopped) {
      try {
        const messages = await this.gather();
        // A batch that came back is invoked even when stop() came meanwhile (as a disabled mapping on AWS finishes
        // the batches it polled): dropped here it would stay in flight for the visibility timeout, and on a FIFO
        // queue hold its message group for as long.
        if (messages.length === 0) continue;
        this.opts.onReceive?.(messages);
        const result = await this.fn.invoke(this.event(messages));
        const done = this.succeeded(result, messages);
        if (done.length > 0) await this.delete(done);
      } catch (err) {
        if (this.stopped) return;
        this.opts.onError?.(`mapping ${this.spec.id}: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
  }

  private async gather(): Promise<PolledMessage[]> {
    const { batchSize } = this.spec;
    const windowMs = this.spec.maximumBatchingWindowSeconds * 1000;
    const messages: PolledMessage[] = [];
    const started = Date.now();
    while (!this.stopped && messages.length < batchSize) {
      const remaining = windowMs - (Date.now() - started);
      if (messages.length > 0 && remaining <= 0) break;
      const received = await this.sqs.receive(this.spec.queueUrl, {
        maxMessages: Math.min(10, batchSize - messages.length),
        // An empty poller waits as long as SQS lets it (stop() aborts the wait); a started batch waits out its window.
        waitSeconds: messages.length > 0 ? Math.min(LONG_POLL_SECONDS, Math.ceil(remaining / 1000)) : LONG_POLL_SECONDS,
        attributeNames: ['All'],
        messageAttributes: true,
        signal: this.abort.signal,
      });
      this.counts.receives++;
      this.counts.messages += received.length;
      if (received.length === 0) this.counts.emptyReceives++;
      for (const m of received) {
        // A message whose visibility ran out while the window was open comes back: keep one copy, the newest receipt.
        const seen = messages.findIndex((x) => x.MessageId === m.MessageId);
        if (seen >= 0) messages[seen] = m;
        else messages.push(m);
      }
      if (windowMs <= 0 && messages.length > 0) break;
    }
    return messages;
  }

  private succeeded(result: InvokeResult, messages: PolledMessage[]): PolledMessage[] {
    if (!result.ok) return [];
    if (!this.spec.reportBatchItemFailures) return messages;
    const failures = (result.payload as { batchItemFailures?: unknown } | null)?.batchItemFailures;
    if (failures === undefined || failures === null) return messages;
    if (!Array.isArray(failures)) return [];
    const failed = new Set<string>();
    for (const f of failures) {
      const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      // An empty or unknown identifier fails the whole batch, as on AWS.
      if (typeof id !== 'string' || !messages.some((m) => m.MessageId === id)) return [];
      failed.add(id);
    }
    return messages.filter((m) => !failed.has(m.MessageId ?? ''));
  }

  private async delete(messages: PolledMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const failed = await this.sqs.deleteBatch(this.spec.queueUrl, messages.slice(i, i + 10));
      for (const f of failed) this.opts.onError?.(`mapping ${this.spec.id}: delete failed: ${f.Code} ${f.Message}`);
    }
  }

  private event(messages: PolledMessage[]): unknown {
    return {
      Records: messages.map((m) => ({
        messageId: m.MessageId,
        receiptHandle: m.ReceiptHandle,
        body: m.Body ?? '',
        attributes: m.Attributes ?? {},
        messageAttributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, lambdaAttribute(v)]),
        ),
        md5OfBody: m.MD5OfBody,
        ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
        eventSource: 'aws:sqs',
        eventSourceARN: this.spec.queueArn,
        awsRegion: this.region,
      })),
    };
  }
}

const isFifo = (spec: SqsMappingSpec) => spec.queueArn.endsWith('.fifo');

/** The limits AWS::Lambda::EventSourceMapping puts on an SQS source, with the setting named when one is broken. */
function validate(spec: SqsMappingSpec): void {
  const fail = (what: string) => {
    throw new Error(`mapping ${spec.id}: ${what}`);
  };
  if (!Number.isInteger(spec.batchSize) || spec.batchSize < 1 || spec.batchSize > 10_000)
    fail(`BatchSize ${spec.batchSize} is outside 1..10000`);
  if (spec.maximumConcurrency !== undefined) {
    const n = spec.maximumConcurrency;
    // A template cannot go below 2 (deploy checks that); a test may run a single poller.
    if (!Number.isInteger(n) || n < 1 || n > 1000) fail(`MaximumConcurrency ${n} is outside 1..1000`);
  }
  if (isFifo(spec)) {
    if (spec.batchSize > FIFO_MAX_BATCH) fail(`BatchSize ${spec.batchSize} is over 10, the maximum for a FIFO queue`);
    if (spec.maximumBatchingWindowSeconds > 0)
      fail('MaximumBatchingWindowInSeconds is not supported for a FIFO queue (as on AWS)');
  } else if (spec.batchSize > 10 && spec.maximumBatchingWindowSeconds <= 0) {
    fail('a BatchSize over 10 needs MaximumBatchingWindowInSeconds of at least 1 (as on AWS)');
  }
}

/** The lower-camel-case attribute shape Lambda's SQS events use (binary values base64, as SQS's JSON has them). */
function lambdaAttribute(v: PolledAttribute): Record<string, unknown> {
  return {
    stringValue: v.StringValue,
    binaryValue: v.BinaryValue,
    stringListValues: v.StringListValues ?? [],
    binaryListValues: v.BinaryListValues ?? [],
    dataType: v.DataType,
  };
}
