import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { queueDepth } from '../../tools/lib/verify-pipeline';
import { SqsEventSourceMapping, type SqsMappingSpec } from '../../local-cloud/runtime/sqs-mapping';
import { fixtureFunction, uniqueName, waitFor, type FixtureFunction } from './fixtures/runtime-helpers';

const sqs = new SQSClient({ useQueueUrlAsEndpoint: false });
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
      maximumConcurrency: 2,
      ...settings,
    },
    fixture.fn,
  );
  mapping.start();
  try {
    await waitFor('the mapping to finish its work', async () => (await until()) || undefined, 25_000);
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
});
