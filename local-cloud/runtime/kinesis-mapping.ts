import { createHash, randomUUID } from 'node:crypto';
import {
  ExpiredIteratorException,
  GetRecordsCommand,
  InvalidArgumentException,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  type _Record as KinesisRecord,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { CheckpointStore } from './checkpoint-store';
import type { WriteSignal } from '../emulators/write-signal';
import type { InvokeResult, Invoker, ServiceEndpoints } from './types';
import { sleep } from '../../shared/util/wait';
import { createKinesisClient, createSqsClient } from '../../shared/aws/clients';

/** A Kinesis event source mapping, with the settings AWS::Lambda::EventSourceMapping takes. */
export interface KinesisMappingSpec {
  id: string;
  streamName: string;
  streamArn: string;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  bisectBatchOnFunctionError: boolean;
  /** -1: retry until the records expire (AWS's default). */
  maximumRetryAttempts: number;
  /** -1: records never expire here (the stream's retention still applies). */
  maximumRecordAgeSeconds: number;
  parallelizationFactor: number;
  /** SQS queue URL for the on-failure destination (Lambda supports SQS, SNS, S3; only SQS is emulated). */
  onFailureQueueUrl?: string;
  /**
   * The mapping reads through an enhanced fan-out consumer (its EventSourceArn is an AWS::Kinesis::StreamConsumer):
   * on AWS the consumer's records are pushed over SubscribeToShard as they arrive (~70 ms on average, AWS says), with
   * no share of the stream's 5 reads/s per shard. kinesalite has no SubscribeToShard, so the push is emulated: the
   * shard is read when the emulator signals a write (`recordsWritten`), or polled when there is no signal to go by;
   * either way at most once per FAN_OUT_READ_INTERVAL_MS rather than KINESIS_READ_INTERVAL_MS.
   */
  enhancedFanOut?: boolean;
}

export interface KinesisMappingOptions {
  region?: string;
  endpoints?: ServiceEndpoints;
  /** How long an empty shard waits before the next GetRecords (AWS polls about once a second; lower gives lower latency). */
  pollIntervalMs?: number;
  /**
   * A shard that has had no record for `idleAfterMs` (default 10 s) is read every `idlePollIntervalMs` (default
   * 1,000 ms: Lambda's base rate of one read per shard per second) until a record comes, then at `pollIntervalMs`
   * again. The low poll interval is for latency under load; an idle stack reading its 12 shards five times a second
   * cost the runtime and kinesalite 0.038 of a core more than this rule does (docs/performance.md).
   */
  idlePollIntervalMs?: number;
  idleAfterMs?: number;
  /**
   * Least time between two GetRecords of one shard (default 200 ms): Kinesis allows 5 reads per second per shard,
   * shared by its consumers, and throttles a faster reader (ProvisionedThroughputExceeded) — AWS's poller, at a
   * base rate of one read per second, stays under it. Reading as fast as the function returns made a batch of
   * every record or two at modest rates: an invocation, a state write and a send each (docs/performance.md).
   */
  minReadIntervalMs?: number;
  /**
   * The emulator's signal that records landed (edge.kinesisWrites): a fan-out mapping reads when it fires rather than
   * polling, and every `unsignalledReadIntervalMs` (default 200) besides, in case a signal went missing.
   */
  recordsWritten?: WriteSignal;
  unsignalledReadIntervalMs?: number;
  /** First retry delay; doubled per attempt up to `maxRetryDelayMs`. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  onError?: (message: string) => void;
}

/** Kinesis's read limit: 5 GetRecords per second per shard. */
const KINESIS_READ_INTERVAL_MS = 200;
/**
 * A fan-out consumer's shard, standing in for SubscribeToShard's push. With the emulator's write signal it is read as
 * records land, at most once per FAN_OUT_READ_INTERVAL_MS (writes that come faster are read together), and every
 * IDLE_FAN_OUT_INTERVAL_MS without a signal. Without it, it is polled every FAN_OUT_READ_INTERVAL_MS (a record waits
 * 10 ms on average), and every IDLE_FAN_OUT_INTERVAL_MS once idle. Either is quicker than AWS's ~70 ms average for a
 * pushed record, which docs/deploy.md says.
 */
const FAN_OUT_READ_INTERVAL_MS = 20;
const IDLE_FAN_OUT_INTERVAL_MS = 200;
/** Lambda's base rate: it polls each shard once a second when it has caught up. */
const IDLE_POLL_INTERVAL_MS = 1000;
const IDLE_AFTER_MS = 10_000;

/** Counts of the GetRecords calls a mapping made (the idle rule's test reads them). */
export interface KinesisMappingStats {
  reads: number;
  emptyReads: number;
  records: number;
}

interface PendingBatch {
  records: KinesisRecord[];
  /** Invocations of (a superset of) these records so far. */
  attempts: number;
}

type FailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * Lambda's Kinesis poller, as AWS documents it: one poller per shard; records in order; a batch is
 * sent when BatchSize records are buffered or MaximumBatchingWindowInSeconds has passed; a function
 * error retries the batch (halved first when BisectBatchOnFunctionError is on) until
 * MaximumRetryAttempts or MaximumRecordAgeInSeconds gives up on it, and then the on-failure
 * destination receives the shard and sequence range; with ReportBatchItemFailures the checkpoint moves
 * to just before the lowest failed sequence number and only the rest is retried. With
 * ParallelizationFactor N, up to N batches of one shard run at once, split by partition key hash, so
 * the records of one key stay in order.
 */
export class KinesisEventSourceMapping {
  private readonly kinesis: KinesisClient;
  private readonly sqs: SQSClient;
  private readonly pollers: Promise<void>[] = [];
  private stopped = false;
  /** Aborted by stop(): a poller waiting for records returns at once. */
  private readonly halt = new AbortController();
  private readonly region: string;
  private readonly counts: KinesisMappingStats = { reads: 0, emptyReads: 0, records: 0 };
  /** How often a shard is read: as records come, when it came back empty, and once idle. */
  private readonly intervals: { minReadMs: number; pollMs: number; idlePollMs: number };
  /** Set for a fan-out mapping whose emulator signals writes: it waits for them rather than polling. */
  private readonly pushed: WriteSignal | undefined;

  constructor(
    readonly spec: KinesisMappingSpec,
    private readonly fn: Invoker,
    private readonly checkpoints: CheckpointStore,
    private readonly opts: KinesisMappingOptions = {},
  ) {
    if (spec.batchSize < 1 || spec.batchSize > 10_000)
      throw new Error(`mapping ${spec.id}: BatchSize ${spec.batchSize} is outside 1..10000`);
    if (spec.parallelizationFactor < 1 || spec.parallelizationFactor > 10) {
      throw new Error(`mapping ${spec.id}: ParallelizationFactor ${spec.parallelizationFactor} is outside 1..10`);
    }
    const { kinesis, sqs } = opts.endpoints ?? {};
    this.kinesis = createKinesisClient(kinesis ? { endpoint: kinesis } : {});
    // Queue URLs from emulators are not always valid endpoints (fauxqs: sqs.<region>.127.0.0.1); the configured endpoint decides.
    this.sqs = createSqsClient(sqs ? { endpoint: sqs } : {});
    this.region = opts.region ?? process.env.AWS_REGION ?? 'us-east-1';
    this.pushed = spec.enhancedFanOut ? opts.recordsWritten : undefined;
    this.intervals = readIntervals(spec, opts, this.pushed !== undefined);
  }

  async start(): Promise<void> {
    const shards: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.kinesis.send(
        new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: this.spec.streamName }),
      );
      for (const s of page.Shards ?? []) if (s.ShardId) shards.push(s.ShardId);
      nextToken = page.NextToken;
    } while (nextToken);
    for (const shardId of shards) this.pollers.push(this.pollShard(shardId));
  }

  stats(): KinesisMappingStats {
    return { ...this.counts };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.halt.abort();
    await Promise.all(this.pollers);
    this.kinesis.destroy();
    this.sqs.destroy();
  }

  private async pollShard(shardId: string): Promise<void> {
    const { batchSize, parallelizationFactor } = this.spec;
    const checkpoint = (seq: string) => this.checkpoints.set(this.spec.id, shardId, seq);
    while (!this.stopped) {
      const reader = new ShardReader(
        this.kinesis,
        this.spec,
        shardId,
        this.checkpoints.get(this.spec.id, shardId),
        this.intervals.minReadMs,
        this.counts,
        (stale) => {
          this.checkpoints.delete(this.spec.id, shardId);
          this.opts.onError?.(
            `mapping ${this.spec.id} shard ${shardId}: its checkpoint ${stale} is of an earlier stream named ` +
              `${this.spec.streamName} (deleted and created again): starting at ${this.spec.startingPosition}, ` +
              `as a new mapping does`,
          );
        },
      );
      try {
        for (;;) {
          const records = await this.fill(reader, batchSize * parallelizationFactor);
          if (this.stopped || records === undefined) return;
          if (parallelizationFactor === 1) {
            await this.processInOrder(shardId, records, checkpoint);
          } else {
            await Promise.all(this.lanes(records).map((lane) => this.processInOrder(shardId, lane, () => undefined)));
            const last = records[records.length - 1];
            if (last?.SequenceNumber && !this.stopped) checkpoint(last.SequenceNumber);
          }
        }
      } catch (err) {
        // An emulator restart or a lost connection: start again from the checkpoint (records after it are redelivered).
        this.opts.onError?.(`mapping ${this.spec.id} shard ${shardId}: ${(err as Error).message}`);
        await sleep(1000);
      }
    }
  }

  /** Resolves with the next records to process, or undefined when the mapping stops or the shard is closed and drained. */
  private async fill(reader: ShardReader, max: number): Promise<KinesisRecord[] | undefined> {
    const windowMs = this.spec.maximumBatchingWindowSeconds * 1000;
    const { pollMs, idlePollMs } = this.intervals;
    let firstAt: number | undefined = reader.buffered() > 0 ? Date.now() : undefined;
    while (!this.stopped) {
      const n = reader.buffered();
      if (n >= max || (n > 0 && firstAt !== undefined && Date.now() - firstAt >= windowMs)) return reader.take(max);
      const writesBefore = this.pushed?.current();
      const got = await reader.fetch();
      if (got === undefined) return n > 0 ? reader.take(max) : undefined;
      if (got > 0) {
        firstAt ??= Date.now();
        continue;
      }
      const idle = reader.emptyForMs() >= (this.opts.idleAfterMs ?? IDLE_AFTER_MS);
      const emptyMs = idle ? idlePollMs : pollMs;
      const waitMs = firstAt === undefined ? emptyMs : Math.min(pollMs, Math.max(0, windowMs - (Date.now() - firstAt)));
      // A pushed shard waits for the next write (or has one already: it landed during the read).
      const stop = this.halt.signal;
      await (this.pushed && writesBefore !== undefined
        ? this.pushed.waitAfter(writesBefore, waitMs, stop)
        : sleep(waitMs, stop));
    }
    return undefined;
  }

  private lanes(records: KinesisRecord[]): KinesisRecord[][] {
    const n = this.spec.parallelizationFactor;
    const lanes: KinesisRecord[][] = Array.from({ length: n }, () => []);
    for (const r of records) {
      const lane = createHash('md5')
        .update(r.PartitionKey ?? '')
        .digest()
        .readUInt32BE(0);
      lanes[lane % n]?.push(r);
    }
    return lanes.filter((l) => l.length > 0);
  }

  /** Processes records in order, in batches, with AWS's retry semantics; calls `checkpoint` as each record is done with. */
  private async processInOrder(
    shardId: string,
    records: KinesisRecord[],
    checkpoint: (seq: string) => void,
  ): Promise<void> {
    const { batchSize, maximumRecordAgeSeconds, maximumRetryAttempts, bisectBatchOnFunctionError } = this.spec;
    const pending: PendingBatch[] = [];
    for (let i = 0; i < records.length; i += batchSize)
      pending.push({ records: records.slice(i, i + batchSize), attempts: 0 });
    while (pending.length > 0 && !this.stopped) {
      const batch = pending[0] as PendingBatch;
      if (maximumRecordAgeSeconds >= 0) {
        const oldest = Date.now() - maximumRecordAgeSeconds * 1000;
        const expired = batch.records.filter((r) => (r.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) < oldest);
        if (expired.length > 0) {
          await this.sendToDestination(shardId, expired, 'RecordAgeExceeded', batch.attempts, undefined);
          batch.records = batch.records.filter((r) => !expired.includes(r));
          checkpoint(lastSeq(expired));
          if (batch.records.length === 0) {
            pending.shift();
            continue;
          }
        }
      }
      const result = await this.fn.invoke(this.event(shardId, batch.records));
      batch.attempts++;
      const failedAt = this.firstFailedIndex(result, batch.records);
      if (failedAt === undefined) {
        checkpoint(lastSeq(batch.records));
        pending.shift();
        continue;
      }
      if (failedAt > 0) {
        checkpoint(lastSeq(batch.records.slice(0, failedAt)));
        batch.records = batch.records.slice(failedAt);
      }
      if (!result.ok && bisectBatchOnFunctionError && batch.records.length > 1) {
        // Bisecting does not use up retries: each half starts its own count, so a poison record is isolated first.
        const half = Math.ceil(batch.records.length / 2);
        pending.splice(
          0,
          1,
          { records: batch.records.slice(0, half), attempts: 0 },
          { records: batch.records.slice(half), attempts: 0 },
        );
        continue;
      }
      if (maximumRetryAttempts >= 0 && batch.attempts > maximumRetryAttempts) {
        await this.sendToDestination(shardId, batch.records, 'RetryAttemptsExhausted', batch.attempts, result);
        checkpoint(lastSeq(batch.records));
        pending.shift();
        continue;
      }
      const base = this.opts.retryDelayMs ?? 100;
      await sleep(Math.min(this.opts.maxRetryDelayMs ?? 2000, base * 2 ** (batch.attempts - 1)));
    }
  }

  /** undefined: the whole batch succeeded; otherwise the index of the first record to retry. */
  private firstFailedIndex(result: InvokeResult, records: KinesisRecord[]): number | undefined {
    if (!result.ok) return 0;
    if (!this.spec.reportBatchItemFailures) return undefined;
    const failures = (result.payload as { batchItemFailures?: unknown } | null)?.batchItemFailures;
    if (failures === undefined || failures === null) return undefined;
    if (!Array.isArray(failures)) return 0;
    if (failures.length === 0) return undefined;
    let lowest = records.length;
    for (const f of failures) {
      const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      const index = typeof id === 'string' && id !== '' ? records.findIndex((r) => r.SequenceNumber === id) : -1;
      // An empty, null or unknown identifier fails the whole batch, as on AWS.
      if (index < 0) return 0;
      lowest = Math.min(lowest, index);
    }
    return lowest;
  }

  private event(shardId: string, records: KinesisRecord[]): unknown {
    return {
      Records: records.map((r) => ({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.PartitionKey,
          sequenceNumber: r.SequenceNumber,
          data: Buffer.from(r.Data ?? new Uint8Array()).toString('base64'),
          approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${shardId}:${r.SequenceNumber}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: `arn:aws:iam::000000000000:role/${this.fn.name}-role`,
        awsRegion: this.region,
        eventSourceARN: this.spec.streamArn,
      })),
    };
  }

  /** The record Lambda sends to an on-failure destination for a stream: where the batch was, not its data. */
  private async sendToDestination(
    shardId: string,
    records: KinesisRecord[],
    condition: FailureCondition,
    invokeCount: number,
    result: InvokeResult | undefined,
  ): Promise<void> {
    const first = records[0];
    const last = records[records.length - 1];
    const message = {
      requestContext: {
        requestId: result?.requestId ?? randomUUID(),
        functionArn: this.fn.arn,
        condition,
        approximateInvokeCount: invokeCount,
      },
      ...(result && !result.ok
        ? { responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' } }
        : {}),
      version: '1.0',
      timestamp: new Date().toISOString(),
      KinesisBatchInfo: {
        shardId,
        startSequenceNumber: first?.SequenceNumber,
        endSequenceNumber: last?.SequenceNumber,
        approximateArrivalOfFirstRecord: first?.ApproximateArrivalTimestamp?.toISOString(),
        approximateArrivalOfLastRecord: last?.ApproximateArrivalTimestamp?.toISOString(),
        batchSize: records.length,
        streamArn: this.spec.streamArn,
      },
    };
    if (!this.spec.onFailureQueueUrl) {
      this.opts.onError?.(
        `mapping ${this.spec.id}: discarded ${records.length} record(s) of ${shardId} (${condition}); no on-failure destination`,
      );
      return;
    }
    await this.sqs.send(
      new SendMessageCommand({ QueueUrl: this.spec.onFailureQueueUrl, MessageBody: JSON.stringify(message) }),
    );
  }
}

/** How often a mapping reads its shard: as records come, when it came back empty, and once idle. */
function readIntervals(
  spec: KinesisMappingSpec,
  opts: KinesisMappingOptions,
  pushed: boolean,
): { minReadMs: number; pollMs: number; idlePollMs: number } {
  if (pushed) {
    const unsignalledMs = opts.unsignalledReadIntervalMs ?? IDLE_FAN_OUT_INTERVAL_MS;
    return { minReadMs: FAN_OUT_READ_INTERVAL_MS, pollMs: unsignalledMs, idlePollMs: unsignalledMs };
  }
  if (spec.enhancedFanOut) {
    return {
      minReadMs: FAN_OUT_READ_INTERVAL_MS,
      pollMs: FAN_OUT_READ_INTERVAL_MS,
      idlePollMs: IDLE_FAN_OUT_INTERVAL_MS,
    };
  }
  return {
    minReadMs: opts.minReadIntervalMs ?? KINESIS_READ_INTERVAL_MS,
    pollMs: opts.pollIntervalMs ?? 100,
    idlePollMs: opts.idlePollIntervalMs ?? IDLE_POLL_INTERVAL_MS,
  };
}

function lastSeq(records: KinesisRecord[]): string {
  const seq = records[records.length - 1]?.SequenceNumber;
  if (!seq) throw new Error('Kinesis record without a sequence number');
  return seq;
}

/** Reads one shard from a checkpoint onwards, keeping a buffer of records fetched but not yet handed out. */
class ShardReader {
  private iterator: string | undefined;
  private closed = false;
  private readonly records: KinesisRecord[] = [];
  /** The last sequence number fetched, to get a fresh iterator if the current one expires. */
  private fetchedUpTo: string | undefined;
  private lastReadAt = 0;
  /** When a read last returned records (the reader's start counts as one: a new poller starts fast). */
  private lastRecordsAt = Date.now();

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly spec: KinesisMappingSpec,
    private readonly shardId: string,
    checkpoint: string | undefined,
    private readonly minReadIntervalMs: number,
    private readonly counts: KinesisMappingStats,
    /** The checkpoint is not of this stream (see newIterator): called once, before reading from the start position. */
    private readonly onForeignCheckpoint: (sequenceNumber: string) => void,
  ) {
    this.fetchedUpTo = checkpoint;
  }

  buffered(): number {
    return this.records.length;
  }

  /** How long the shard has given no record. */
  emptyForMs(): number {
    return Date.now() - this.lastRecordsAt;
  }

  take(max: number): KinesisRecord[] {
    return this.records.splice(0, max);
  }

  /** Fetches once; resolves with the number of new records, or undefined when the shard is closed. */
  async fetch(): Promise<number | undefined> {
    if (this.closed) return undefined;
    if (!this.iterator) this.iterator = await this.newIterator();
    const wait = this.lastReadAt + this.minReadIntervalMs - Date.now();
    if (wait > 0) await sleep(wait);
    this.lastReadAt = Date.now();
    let out;
    try {
      out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: 10_000 }));
    } catch (err) {
      if (err instanceof ExpiredIteratorException) {
        this.iterator = undefined;
        return 0;
      }
      throw err;
    }
    const got = out.Records ?? [];
    this.counts.reads++;
    this.counts.records += got.length;
    if (got.length === 0) this.counts.emptyReads++;
    else this.lastRecordsAt = Date.now();
    this.records.push(...got);
    const last = got[got.length - 1];
    if (last?.SequenceNumber) this.fetchedUpTo = last.SequenceNumber;
    if (!out.NextShardIterator) this.closed = true;
    this.iterator = out.NextShardIterator;
    return got.length;
  }

  /**
   * An iterator after what was fetched (or checkpointed), else at the mapping's start position. A checkpoint the
   * stream calls "not from this stream" was taken on an earlier stream of the same name — `cdk destroy` and `cdk
   * deploy` again, or a data dir's checkpoints kept across a new stream: on AWS the new stream's mapping is a new
   * one, with no checkpoint, so the reader starts where a new mapping does. Before, it asked again every second,
   * forever, and no record of the new stream was ever read.
   */
  private async newIterator(): Promise<string> {
    const after = this.fetchedUpTo;
    try {
      return await this.iteratorAt(after);
    } catch (err) {
      const foreign = err instanceof InvalidArgumentException && /did not come from this stream/.test(err.message);
      if (after === undefined || !foreign) throw err;
      this.onForeignCheckpoint(after);
      this.fetchedUpTo = undefined;
      return this.iteratorAt(undefined);
    }
  }

  private async iteratorAt(after: string | undefined): Promise<string> {
    const type: ShardIteratorType = after ? 'AFTER_SEQUENCE_NUMBER' : this.spec.startingPosition;
    const out = await this.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: this.spec.streamName,
        ShardId: this.shardId,
        ShardIteratorType: type,
        ...(after ? { StartingSequenceNumber: after } : {}),
      }),
    );
    if (!out.ShardIterator) throw new Error(`no shard iterator for ${this.shardId}`);
    // LATEST is resolved once: later iterators continue from what was fetched, not from the new tip.
    return out.ShardIterator;
  }
}
