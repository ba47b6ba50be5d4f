import { createHash } from 'node:crypto';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { queueDepth } from '../../../shared/aws/queues';
import { DEFAULT_POLLERS, SqsEventSourceMapping, type SqsMappingSpec } from '../../../local-cloud/runtime/sqs-mapping';
import { fixtureFunction, uniqueName, type FixtureFunction } from './fixtures/runtime-helpers';
import { sleep, waitFor } from '../../../shared/util/wait';
import { createSqsClient } from '../../../shared/aws/clients';

const sqs = createSqsClient();
afterAll(() => sqs.destroy());

async function queue(fifo: boolean, attributes: Record<string, string> = {}): Promise<{ url: string; arn: string }> {
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: uniqueName('q') + (fifo ? '.fifo' : ''),
      Attributes: { ...(fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' } : {}), ...attributes },
    }),
  );
  const url = out.QueueUrl ?? '';
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: attrs.Attributes?.QueueArn ?? '' };
}

const depth = (url: string) => queueDepth(sqs, url);

async function withMapping(
  fixture: FixtureFunction,
  q: { url: string; arn: string },
  settings: Partial<SqsMappingSpec>,
  until: () => Promise<boolean>,
) {
  const mapping = new SqsEventSourceMapping(
    {
      id: uniqueName('esm'),
      queueUrl: q.url,
      queueArn: q.arn,
      batchSize: 1,
      maximumBatchingWindowSeconds: 0,
      reportBatchItemFailures: false,
      ...settings,
    },
    fixture.fn,
  );
  mapping.start();
  try {
    await waitFor('the mapping to finish its work', 25_000, until);
  } finally {
    await mapping.stop();
    await fixture.fn.stop();
  }
}

describe('local runtime: SQS event source mapping', () => {
  it('keeps a FIFO message group blocked while its message is in flight; other groups go on', async () => {
    const q = await queue(true, { VisibilityTimeout: '30' });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: [
          { Id: 'a1', MessageGroupId: 'A', MessageBody: JSON.stringify({ n: 1, group: 'A' }) },
          { Id: 'a2', MessageGroupId: 'A', MessageBody: JSON.stringify({ n: 2, group: 'A' }) },
          { Id: 'b3', MessageGroupId: 'B', MessageBody: JSON.stringify({ n: 3, group: 'B' }) },
          { Id: 'b4', MessageGroupId: 'B', MessageBody: JSON.stringify({ n: 4, group: 'B' }) },
        ],
      }),
    );
    const fixture = fixtureFunction('slowGroup', { SLOW_GROUP: 'A', SLOW_MS: '2000' });
    await withMapping(
      fixture,
      q,
      { batchSize: 1, maximumConcurrency: 2 },
      async () => fixture.invocations().length >= 4,
    );
    const byN = new Map(fixture.invocations().map((i) => [i.ns[0], i]));
    const a1 = byN.get(1);
    const a2 = byN.get(2);
    const b3 = byN.get(3);
    const b4 = byN.get(4);
    expect(a1 && a2 && b3 && b4).toBeTruthy();
    // A2 waited for A1 to finish (and be deleted) although a poller was free the whole time...
    expect(a2!.start!).toBeGreaterThanOrEqual(a1!.end!);
    // ...which group B used: both of its messages were handled while A1 was in flight.
    expect(b4!.end!).toBeLessThan(a1!.end!);
    expect(b3!.start!).toBeLessThan(b4!.start!);
    expect(await depth(q.url)).toBe(0);
  });

  it('leaves a failed message to come back after the visibility timeout; the redrive policy then moves it to the DLQ', async () => {
    const dlq = await queue(false);
    const q = await queue(false, {
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }),
    });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: [0, 1, 2].map((n) => ({ Id: `m${n}`, MessageBody: JSON.stringify({ n }) })),
      }),
    );
    const fixture = fixtureFunction('poison', { POISON: '1' });
    // The fixture throws for a batch holding n=1; ReportBatchItemFailures is off here, so the whole batch stays.
    await withMapping(
      fixture,
      q,
      { batchSize: 1, maximumConcurrency: 1 },
      async () => (await depth(dlq.url)) === 1 && (await depth(q.url)) === 0,
    );
    const calls = fixture.invocations().map((i) => i.ns[0]);
    expect(calls.filter((n) => n === 0)).toHaveLength(1);
    expect(calls.filter((n) => n === 2)).toHaveLength(1);
    expect(calls.filter((n) => n === 1)).toHaveLength(2); // maxReceiveCount 2, then the DLQ
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url }));
    expect(JSON.parse(dead.Messages?.[0]?.Body ?? '{}')).toEqual({ n: 1 });
  });

  it('with ReportBatchItemFailures deletes the successful messages of a batch and keeps only the failed one', async () => {
    const q = await queue(false, { VisibilityTimeout: '2' });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: [0, 1, 2, 3].map((n) => ({ Id: `m${n}`, MessageBody: JSON.stringify({ n }) })),
      }),
    );
    const fixture = fixtureFunction('failOnceAt', { FAIL_AT: '2' });
    await withMapping(
      fixture,
      q,
      { batchSize: 4, maximumBatchingWindowSeconds: 1, reportBatchItemFailures: true, maximumConcurrency: 1 },
      async () => (await depth(q.url)) === 0 && fixture.invocations().length >= 2,
    );
    const [first, ...rest] = fixture.invocations();
    expect([...(first?.ns ?? [])].sort()).toEqual([0, 1, 2, 3]);
    expect(rest.flatMap((i) => i.ns)).toEqual([2]);
  });

  it('hands a FIFO group to one invocation: up to BatchSize of its messages, in order', async () => {
    const q = await queue(true, { VisibilityTimeout: '30' });
    const send = (group: string, ns: number[]) =>
      sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: q.url,
          Entries: ns.map((n) => ({ Id: `m${n}`, MessageGroupId: group, MessageBody: JSON.stringify({ n, group }) })),
        }),
      );
    await send('A', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await send('A', [10, 11]);
    await send('B', [20, 21, 22]);
    const fixture = fixtureFunction('slowGroup', { SLOW_GROUP: 'none', SLOW_MS: '0' });
    await withMapping(fixture, q, { batchSize: 10 }, async () => (await depth(q.url)) === 0);
    const batches = fixture.invocations().map((i) => i.ns);
    // One receive returns the group's first ten (the rest of A only after they are deleted); B is its own batch.
    expect(batches).toHaveLength(3);
    expect(batches.filter((ns) => ns[0] !== undefined && ns[0] < 20)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [10, 11],
    ]);
    expect(batches).toContainEqual([20, 21, 22]);
  });

  it('runs a steady five pollers on a standard queue without ScalingConfig', async () => {
    const q = await queue(false, { VisibilityTimeout: '30' });
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: Array.from({ length: 10 }, (_, n) => ({
          Id: `m${n}`,
          MessageBody: JSON.stringify({ n, group: 'slow' }),
        })),
      }),
    );
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: Array.from({ length: 5 }, (_, n) => ({
          Id: `m${n}`,
          MessageBody: JSON.stringify({ n: n + 10, group: 'slow' }),
        })),
      }),
    );
    const fixture = fixtureFunction('slowGroup', { SLOW_GROUP: 'slow', SLOW_MS: '1500' });
    await withMapping(fixture, q, { batchSize: 1 }, async () => (await depth(q.url)) === 0);
    const runs = fixture.invocations();
    expect(runs).toHaveLength(15);
    // The most invocations running at once: the function allows ten, the mapping's pollers five.
    const overlap = Math.max(...runs.map((r) => runs.filter((o) => o.start! <= r.start! && o.end! > r.start!).length));
    expect(overlap).toBe(DEFAULT_POLLERS.standard);
  });

  it("delivers each message in Lambda's SQS event shape: system and message attributes, binary ones in base64", async () => {
    const q = await queue(true);
    const body = JSON.stringify({ n: 1 });
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: q.url,
        MessageBody: body,
        MessageGroupId: 'g1',
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: 'why' },
          size: { DataType: 'Number', StringValue: '42' },
          blob: { DataType: 'Binary', BinaryValue: bytes },
        },
      }),
    );
    const fixture = fixtureFunction('recordEvent');
    await withMapping(fixture, q, { batchSize: 10 }, async () => fixture.invocations().length >= 1);
    const [record] = (fixture.invocations()[0] as unknown as { records: Record<string, unknown>[] }).records;
    expect(record).toMatchObject({
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: q.arn,
      attributes: { MessageGroupId: 'g1', ApproximateReceiveCount: '1' },
      messageAttributes: {
        reason: { stringValue: 'why', dataType: 'String', stringListValues: [], binaryListValues: [] },
        size: { stringValue: '42', dataType: 'Number' },
        blob: { binaryValue: bytes.toString('base64'), dataType: 'Binary' },
      },
    });
    expect(Number((record!.attributes as Record<string, string>).SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(await depth(q.url)).toBe(0);
  });

  it('long-polls while idle (no empty receives), stops promptly, and leaves no waiting receive behind', async () => {
    const q = await queue(true);
    const fixture = fixtureFunction('slowGroup', { SLOW_GROUP: 'none', SLOW_MS: '0' });
    const mapping = new SqsEventSourceMapping(
      {
        id: uniqueName('esm'),
        queueUrl: q.url,
        queueArn: q.arn,
        batchSize: 10,
        maximumBatchingWindowSeconds: 0,
        reportBatchItemFailures: false,
      },
      fixture.fn,
    );
    expect(mapping.pollerCount).toBe(DEFAULT_POLLERS.fifo);
    mapping.start();
    await sleep(2500);
    expect(mapping.stats()).toEqual({ receives: 0, emptyReceives: 0, messages: 0 });
    const stopping = Date.now();
    await mapping.stop();
    await fixture.fn.stop();
    expect(Date.now() - stopping).toBeLessThan(2000);
    // The ten abandoned long polls must not take a message that arrives now.
    await sleep(200);
    await sqs.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: '{"n":1}', MessageGroupId: 'g' }));
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, WaitTimeSeconds: 2 }));
    expect(got.Messages?.map((m) => m.Body)).toEqual(['{"n":1}']);
    expect(fixture.invocations()).toEqual([]);
  });

  it.each([
    [{ batchSize: 11 }, 'BatchSize 11 is over 10, the maximum for a FIFO queue'],
    [{ maximumBatchingWindowSeconds: 1 }, 'MaximumBatchingWindowInSeconds is not supported for a FIFO queue'],
    [{ maximumConcurrency: 0 }, 'MaximumConcurrency 0 is outside 1..1000'],
  ])('refuses a FIFO mapping AWS would refuse: %o', (settings, message) => {
    const fixture = fixtureFunction('echo');
    const spec: SqsMappingSpec = {
      id: 'esm',
      queueUrl: 'http://127.0.0.1/000000000000/q.fifo',
      queueArn: 'arn:aws:sqs:us-east-1:000000000000:q.fifo',
      batchSize: 10,
      maximumBatchingWindowSeconds: 0,
      reportBatchItemFailures: false,
      ...settings,
    };
    expect(() => new SqsEventSourceMapping(spec, fixture.fn)).toThrow(message);
  });
});
