import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { CheckpointStore } from '../../../local-cloud/runtime/checkpoint-store';
import {
  KinesisEventSourceMapping,
  type KinesisMappingOptions,
  type KinesisMappingSpec,
} from '../../../local-cloud/runtime/kinesis-mapping';
import { fixtureFunction, streamWithRecords, uniqueName, type FixtureFunction } from './fixtures/runtime-helpers';
import { sleep, waitFor } from '../../../shared/util/wait';
import { DescribeStreamCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient, createSqsClient } from '../../../shared/aws/clients';
import { createStandardQueue, createStream, deleteStream } from '../pipeline/support/resources';
import { startKinesis } from '../../../local-cloud/emulators/kinesis';
import { freePort } from '../../../local-cloud/emulators/child-service';
import { WriteSignal } from '../../../local-cloud/emulators/write-signal';

/** A real checkpoint store that also remembers every checkpoint it was given, in order. */
class ObservedCheckpoints extends CheckpointStore {
  readonly history: string[] = [];
  override set(mappingId: string, shardId: string, sequenceNumber: string): void {
    this.history.push(sequenceNumber);
    super.set(mappingId, shardId, sequenceNumber);
  }
}

const sqs = createSqsClient();
afterAll(() => sqs.destroy());

async function failureQueue(): Promise<{ url: string; arn: string }> {
  const url = await createStandardQueue(sqs, uniqueName('on-failure'));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: attrs.Attributes?.QueueArn ?? '' };
}

async function receiveOne(url: string): Promise<Record<string, unknown>> {
  const out = await waitFor('a message on the failure destination', 20_000, async () => {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    return r.Messages?.[0];
  });
  return JSON.parse(out.Body ?? '{}') as Record<string, unknown>;
}

function specFor(stream: { name: string; arn: string }, settings: Partial<KinesisMappingSpec>): KinesisMappingSpec {
  return {
    id: uniqueName('esm'),
    streamName: stream.name,
    streamArn: stream.arn,
    startingPosition: 'TRIM_HORIZON',
    batchSize: 100,
    maximumBatchingWindowSeconds: 0,
    reportBatchItemFailures: false,
    bisectBatchOnFunctionError: false,
    maximumRetryAttempts: -1,
    maximumRecordAgeSeconds: -1,
    parallelizationFactor: 1,
    ...settings,
  };
}

async function runMapping(
  fixture: FixtureFunction,
  stream: { name: string; arn: string },
  settings: Partial<KinesisMappingSpec>,
  until: () => boolean,
  checkpoints = new ObservedCheckpoints(),
  opts: KinesisMappingOptions = {},
): Promise<ObservedCheckpoints> {
  const mapping = new KinesisEventSourceMapping(specFor(stream, settings), fixture.fn, checkpoints, {
    retryDelayMs: 50,
    ...opts,
  });
  await mapping.start();
  try {
    await waitFor('the mapping to finish its work', 20_000, until);
  } finally {
    await mapping.stop();
    await fixture.fn.stop();
  }
  return checkpoints;
}

/**
 * Runs a mapping with `settings` over a one-shard stream while 60 records arrive, one every 20 ms; returns how many
 * invocations delivered them (all 61, in order: checked here) and how long it took.
 */
async function readSteadyRecords(
  settings: Partial<KinesisMappingSpec>,
  opts: KinesisMappingOptions = {},
): Promise<{ invocations: number; elapsedMs: number }> {
  const stream = await streamWithRecords(1);
  const fixture = fixtureFunction('failOnceAt', { FAIL_AT: '-1' });
  const kinesis = createKinesisClient();
  const started = Date.now();
  const writer = (async () => {
    for (let n = 1; n <= 60; n++) {
      await kinesis.send(
        new PutRecordCommand({ StreamName: stream.name, PartitionKey: 'k', Data: Buffer.from(JSON.stringify({ n })) }),
      );
      await sleep(20);
    }
  })();
  const seen = () => fixture.invocations().flatMap((i) => i.ns).length;
  try {
    await runMapping(fixture, stream, settings, () => seen() >= 61, undefined, opts);
  } finally {
    await writer;
    kinesis.destroy();
  }
  expect(fixture.invocations().flatMap((i) => i.ns)).toEqual(Array.from({ length: 61 }, (_, n) => n));
  return { invocations: fixture.invocations().length, elapsedMs: Date.now() - started };
}

describe('local runtime: Kinesis event source mapping', () => {
  it('checkpoints just before the record reported failed at k and retries from k', async () => {
    const stream = await streamWithRecords(10);
    const fixture = fixtureFunction('failOnceAt', { FAIL_AT: '4' });
    const checkpoints = await runMapping(
      fixture,
      stream,
      { reportBatchItemFailures: true, batchSize: 10, maximumBatchingWindowSeconds: 1 },
      () => fixture.invocations().length >= 2,
    );
    const seq = stream.sequenceNumbers;
    expect(fixture.invocations().map((i) => i.ns)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [4, 5, 6, 7, 8, 9],
    ]);
    expect(checkpoints.history).toEqual([seq[3], seq[9]]);
  });

  it('a checkpoint of an earlier stream of the same name (destroyed, deployed again) gives way to the start position', async () => {
    // The earlier stream: its third record is where the mapping had got to when the stack was destroyed.
    const earlier = await streamWithRecords(3);
    const kinesis = createKinesisClient();
    try {
      await deleteStream(kinesis, earlier.name);
      await waitFor('the stream to be gone', 10_000, () =>
        kinesis.send(new DescribeStreamCommand({ StreamName: earlier.name })).then(
          () => false,
          (err: Error) => err.name === 'ResourceNotFoundException',
        ),
      );
      // kinesalite tells streams apart by their creation second (as AWS's numbers do by more): a later second.
      await sleep(1100);
      await createStream(kinesis, earlier.name);
      for (const n of [100, 101])
        await kinesis.send(
          new PutRecordCommand({
            StreamName: earlier.name,
            PartitionKey: 'k',
            Data: Buffer.from(JSON.stringify({ n })),
          }),
        );
    } finally {
      kinesis.destroy();
    }
    const id = uniqueName('esm');
    const shard = 'shardId-000000000000';
    const checkpoints = new ObservedCheckpoints();
    checkpoints.set(id, shard, earlier.sequenceNumbers[2]!);
    const errors: string[] = [];
    const fixture = fixtureFunction('failOnceAt', { FAIL_AT: '-1' });
    const seen = () => fixture.invocations().flatMap((i) => i.ns);
    await runMapping(fixture, earlier, { id }, () => seen().length >= 2, checkpoints, {
      onError: (m) => errors.push(m),
    });
    // Read from TRIM_HORIZON as a new mapping would, once; not asked again every second with the stale number.
    expect(seen()).toEqual([100, 101]);
    expect(errors).toEqual([
      `mapping ${id} shard ${shard}: its checkpoint ${earlier.sequenceNumbers[2]} is of an earlier stream named ` +
        `${earlier.name} (deleted and created again): starting at TRIM_HORIZON, as a new mapping does`,
    ]);
    expect(checkpoints.get(id, shard)).toBe(checkpoints.history.at(-1));
    expect(checkpoints.history.at(-1)).not.toBe(earlier.sequenceNumbers[2]);
  });

  it("reads a shard at most 5 times a second (Kinesis's limit), so records arriving steadily are batched", async () => {
    const { invocations, elapsedMs } = await readSteadyRecords({}, { pollIntervalMs: 5 });
    // One read per 200 ms at most, so at most one invocation per 200 ms (plus the first read).
    expect(invocations).toBeLessThanOrEqual(Math.ceil(elapsedMs / 200) + 1);
  });

  it('through an enhanced fan-out consumer, reads as records come: not held to the shared 5 reads a second', async () => {
    const { invocations, elapsedMs } = await readSteadyRecords({ enhancedFanOut: true });
    // Every 20 ms (SubscribeToShard's push, emulated): far more invocations than 200 ms reads allow.
    expect(invocations).toBeGreaterThan(2 * (Math.ceil(elapsedMs / 200) + 1));
  });

  it('through a fan-out consumer on a kinesalite that signals its writes, reads when records land and does not poll', async () => {
    // A kinesalite of its own, started as the edge starts it, with the write signal wired to the mapping.
    const signal = new WriteSignal();
    const emulator = await startKinesis(await freePort(), undefined, () => signal.notify());
    const kinesis = createKinesisClient({ endpoint: emulator.endpoint });
    const name = uniqueName('pushed');
    const fixture = fixtureFunction('failOnceAt', { FAIL_AT: '-1' });
    // Without a signal the shard is read once a minute: a record delivered within seconds came by the signal.
    const mapping = new KinesisEventSourceMapping(
      specFor({ name, arn: `arn:aws:kinesis:us-east-1:000000000000:stream/${name}` }, { enhancedFanOut: true }),
      fixture.fn,
      new CheckpointStore(),
      { endpoints: { kinesis: emulator.endpoint }, recordsWritten: signal, unsignalledReadIntervalMs: 60_000 },
    );
    const put = async (n: number) => {
      const at = Date.now();
      await kinesis.send(
        new PutRecordCommand({ StreamName: name, PartitionKey: 'k', Data: Buffer.from(`{"n":${n}}`) }),
      );
      await waitFor(`record ${n}`, 10_000, () => fixture.invocations().some((i) => i.ns.includes(n)));
      return Date.now() - at;
    };
    try {
      await createStream(kinesis, name);
      await mapping.start();
      await sleep(300); // the first read (the poller's start) has found the shard empty and waits
      expect(await put(0)).toBeLessThan(10_000);
      const reads = mapping.stats().reads;
      await sleep(1_000);
      expect(mapping.stats().reads - reads).toBeLessThanOrEqual(1); // waiting, not polling every 20 ms
      expect(await put(1)).toBeLessThan(10_000);
      expect(fixture.invocations().map((i) => i.ns)).toEqual([[0], [1]]);
    } finally {
      await mapping.stop();
      await fixture.fn.stop();
      kinesis.destroy();
      await emulator.stop();
    }
  });

  it("reads a shard idle for a while once a second (Lambda's base rate), and fast again once a record comes", async () => {
    const stream = await streamWithRecords(1);
    const fixture = fixtureFunction('failOnceAt', { FAIL_AT: '-1' });
    const kinesis = createKinesisClient();
    const idleAfterMs = 3000;
    const mapping = new KinesisEventSourceMapping(specFor(stream, {}), fixture.fn, new CheckpointStore(), {
      pollIntervalMs: 5,
      idleAfterMs,
      idlePollIntervalMs: 1000,
    });
    const readsOver = async (ms: number) => {
      const before = mapping.stats().reads;
      await sleep(ms);
      return mapping.stats().reads - before;
    };
    try {
      await mapping.start();
      await waitFor('the first record', 20_000, () => fixture.invocations().length === 1);
      // Idle: about one read a second (a read every 200 ms, Kinesis's limit, would be 20 in these 4 s).
      await sleep(idleAfterMs + 500);
      expect(await readsOver(4000)).toBeLessThanOrEqual(6);
      const put = Date.now();
      await kinesis.send(
        new PutRecordCommand({
          StreamName: stream.name,
          PartitionKey: 'k',
          Data: Buffer.from(JSON.stringify({ n: 1 })),
        }),
      );
      await waitFor('the record after the idle time', 10_000, () => fixture.invocations().length === 2);
      expect(Date.now() - put).toBeLessThan(2500); // at most one idle interval late, on a loaded machine
      // A record came: reads every 200 ms again (10 in 2 s; once a second would be 2 or 3).
      expect(await readsOver(2000)).toBeGreaterThanOrEqual(5);
      expect(mapping.stats()).toMatchObject({ records: 2 });
    } finally {
      await mapping.stop();
      await fixture.fn.stop();
      kinesis.destroy();
    }
  });

  it('bisects a failing batch until the poison record is alone, then sends only it to the destination', async () => {
    const stream = await streamWithRecords(8);
    const destination = await failureQueue();
    const fixture = fixtureFunction('poison', { POISON: '5' });
    await runMapping(
      fixture,
      stream,
      {
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 0,
        batchSize: 8,
        maximumBatchingWindowSeconds: 1,
        onFailureQueueUrl: destination.url,
      },
      () => fixture.invocations().some((i) => i.ns.join() === '6,7'),
    );
    expect(fixture.invocations().map((i) => i.ns)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [4, 5],
      [4],
      [5],
      [6, 7],
    ]);
    const failure = await receiveOne(destination.url);
    expect(failure.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: stream.sequenceNumbers[5],
      endSequenceNumber: stream.sequenceNumbers[5],
      batchSize: 1,
    });
  });

  it('after MaximumRetryAttempts sends the batch range to the on-failure destination and moves on', async () => {
    const stream = await streamWithRecords(3);
    const destination = await failureQueue();
    const fixture = fixtureFunction('alwaysFails');
    const checkpoints = await runMapping(
      fixture,
      stream,
      { maximumRetryAttempts: 2, batchSize: 3, maximumBatchingWindowSeconds: 1, onFailureQueueUrl: destination.url },
      () => fixture.invocations().length >= 3,
    );
    expect(fixture.invocations().map((i) => i.ns)).toEqual([
      [0, 1, 2],
      [0, 1, 2],
      [0, 1, 2],
    ]);
    const failure = await receiveOne(destination.url);
    expect(failure).toMatchObject({
      requestContext: { functionArn: fixture.fn.arn, condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
      responseContext: { functionError: 'Unhandled' },
      version: '1.0',
      KinesisBatchInfo: {
        shardId: 'shardId-000000000000',
        startSequenceNumber: stream.sequenceNumbers[0],
        endSequenceNumber: stream.sequenceNumbers[2],
        batchSize: 3,
        streamArn: stream.arn,
      },
    });
    expect(checkpoints.history).toEqual([stream.sequenceNumbers[2]]);
  });

  it('retries the whole batch after the handler times out', async () => {
    const stream = await streamWithRecords(4);
    const fixture = fixtureFunction('hangsOnce', {}, 1);
    const checkpoints = await runMapping(
      fixture,
      stream,
      { batchSize: 4, maximumBatchingWindowSeconds: 1 },
      () => fixture.invocations().length >= 2,
    );
    const [first, second] = fixture.invocations();
    expect(first?.ns).toEqual([0, 1, 2, 3]);
    expect(second?.ns).toEqual([0, 1, 2, 3]);
    expect(second?.pid).not.toBe(first?.pid); // the timed-out worker was killed
    expect(fixture.logs.lines.some((l) => l.message.endsWith('Task timed out after 1.00 seconds'))).toBe(true);
    expect(checkpoints.history).toEqual([stream.sequenceNumbers[3]]);
  });

  it('with ParallelizationFactor runs batches of one shard concurrently and keeps each partition key in order', async () => {
    const stream = await streamWithRecords(30);
    const fixture = fixtureFunction('slowGroup', { SLOW_GROUP: 'none', SLOW_MS: '0' });
    await runMapping(
      fixture,
      stream,
      { parallelizationFactor: 3, batchSize: 5, maximumBatchingWindowSeconds: 1 },
      () => fixture.invocations().reduce((n, i) => n + i.ns.length, 0) >= 30,
    );
    const seen = fixture.invocations().flatMap((i) => i.ns);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, n) => n));
    for (const key of [0, 1, 2]) {
      const ofKey = seen.filter((n) => n % 3 === key);
      expect(ofKey).toEqual([...ofKey].sort((a, b) => a - b));
    }
    expect(fixture.invocations().every((i) => i.ns.length <= 5)).toBe(true);
  });

  it('runs two mappings on one stream independently: each gets every record, one failing never holds the other', async () => {
    const stream = await streamWithRecords(12);
    const healthy = fixtureFunction('failOnceAt', { FAIL_AT: '-1' });
    const failing = fixtureFunction('alwaysFails');
    // One checkpoint store, as the runtime has: the mappings' entries are kept apart by mapping id.
    const checkpoints = new CheckpointStore();
    const spec = (id: string): KinesisMappingSpec => ({
      id,
      streamName: stream.name,
      streamArn: stream.arn,
      startingPosition: 'TRIM_HORIZON',
      batchSize: 5,
      maximumBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
      bisectBatchOnFunctionError: false,
      maximumRetryAttempts: -1,
      maximumRecordAgeSeconds: -1,
      parallelizationFactor: 1,
    });
    const mappings = [
      new KinesisEventSourceMapping(spec('ProcessTicksMapping'), failing.fn, checkpoints, { retryDelayMs: 50 }),
      new KinesisEventSourceMapping(spec('MarketDataTicksMapping'), healthy.fn, checkpoints, { retryDelayMs: 50 }),
    ];
    try {
      for (const m of mappings) await m.start();
      await waitFor('the healthy mapping to see every record', 20_000, () => {
        return healthy.invocations().flatMap((i) => i.ns).length >= 12 && failing.invocations().length >= 3;
      });
    } finally {
      for (const m of mappings) await m.stop();
      await healthy.fn.stop();
      await failing.fn.stop();
    }
    expect(healthy.invocations().flatMap((i) => i.ns)).toEqual(Array.from({ length: 12 }, (_, n) => n));
    // The failing mapping is still retrying its first batch: its checkpoint has not moved, the other's has.
    expect(failing.invocations().every((i) => i.ns.join() === '0,1,2,3,4')).toBe(true);
    expect(checkpoints.get('MarketDataTicksMapping', 'shardId-000000000000')).toBe(stream.sequenceNumbers[11]);
    expect(checkpoints.get('ProcessTicksMapping', 'shardId-000000000000')).toBeUndefined();
  });
});
