/**
 * The local SQS (fauxqs with patches/fauxqs+1.9.2.patch) receives as SQS does. Each case here fails on
 * unpatched fauxqs 1.9.2, which returns one message per FIFO group per receive, wakes every waiting
 * long poll when one message arrives (all but one then return empty at once), and knows a queue only by
 * the exact URL it handed out.
 */
import { networkInterfaces } from 'node:os';
import { connect } from 'node:net';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type Message,
  type ReceiveMessageCommandOutput,
} from '@aws-sdk/client-sqs';
import { uniqueName } from './fixtures/runtime-helpers';
import { sleep } from '../../../shared/util/wait';
import { createSqsClient } from '../../../shared/aws/clients';

const sqs = createSqsClient();
afterAll(() => sqs.destroy());

async function createQueue(fifo: boolean, attributes: Record<string, string> = {}): Promise<string> {
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: uniqueName('sem') + (fifo ? '.fifo' : ''),
      Attributes: { ...(fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'true' } : {}), ...attributes },
    }),
  );
  if (!out.QueueUrl) throw new Error('CreateQueue returned no QueueUrl');
  return out.QueueUrl;
}

/** Sends `bodies` to one message group, in order, ten per batch. */
async function sendGroup(url: string, group: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(i, i + 10).map((b, n) => ({ Id: `m${n}`, MessageGroupId: group, MessageBody: b })),
      }),
    );
  }
}

const receive = (url: string, waitSeconds = 0, max = 10, abortSignal?: AbortSignal) =>
  sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: max,
      WaitTimeSeconds: waitSeconds,
      MessageSystemAttributeNames: ['MessageGroupId', 'SequenceNumber'],
    }),
    abortSignal ? { abortSignal } : {},
  );

const bodies = (messages: Message[] | undefined) => (messages ?? []).map((m) => m.Body);
const groupOf = (m: Message) => m.Attributes?.MessageGroupId;

async function deleteAll(url: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: messages.slice(i, i + 10).map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}

/** Resolves with the receive's output, or 'pending' if it has not answered within `ms`. */
const settledWithin = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

describe('local SQS: FIFO receive as on AWS', () => {
  it('returns up to MaxNumberOfMessages of one group in order, and locks the group until they are deleted', async () => {
    const url = await createQueue(true, { VisibilityTimeout: '30' });
    const a = Array.from({ length: 12 }, (_, n) => `A${n}`);
    await sendGroup(url, 'A', a);
    await sendGroup(url, 'B', ['B0', 'B1']);

    const first = await receive(url);
    expect(bodies(first.Messages)).toEqual(a.slice(0, 10));
    const seqs = (first.Messages ?? []).map((m) => BigInt(m.Attributes?.SequenceNumber ?? '0'));
    expect(seqs).toEqual([...seqs].sort((x, y) => (x < y ? -1 : 1)));

    // A second receiver gets the other group, never A while A's messages are in flight.
    const second = await receive(url);
    expect(bodies(second.Messages)).toEqual(['B0', 'B1']);
    expect(bodies((await receive(url)).Messages)).toEqual([]);

    // Deleting all but one keeps A locked; deleting the last releases the next batch of A.
    const inFlight = first.Messages ?? [];
    await deleteAll(url, inFlight.slice(0, 9));
    expect(bodies((await receive(url)).Messages)).toEqual([]);
    await deleteAll(url, inFlight.slice(9));
    const next = await receive(url);
    expect(bodies(next.Messages)).toEqual(a.slice(10));
    expect((next.Messages ?? []).every((m) => groupOf(m) === 'A')).toBe(true);
  });

  it('gives a group back in order when its batch becomes visible again', async () => {
    const url = await createQueue(true, { VisibilityTimeout: '1' });
    const a = Array.from({ length: 10 }, (_, n) => `A${n}`);
    await sendGroup(url, 'A', a);
    expect(bodies((await receive(url)).Messages)).toEqual(a);
    // Not deleted: after the visibility timeout the same ten come back, still in order.
    const again = await receive(url, 5);
    expect(bodies(again.Messages)).toEqual(a);
  });

  it.each([
    ['standard', false],
    ['FIFO', true],
  ])('wakes one waiting long poll per message on a %s queue; the others keep waiting', async (_kind, fifo) => {
    const url = await createQueue(fifo);
    const pollers = Array.from({ length: 4 }, () => receive(url, 4, 10));
    // Let the four polls reach the queue before the message does.
    await sleep(300);
    await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: 'one', ...(fifo ? { MessageGroupId: 'g1' } : {}) }),
    );
    const early = await Promise.all(pollers.map((p) => settledWithin(p, 1000)));
    const answered = early.filter((r): r is ReceiveMessageCommandOutput => r !== 'pending');
    expect(answered.map((r) => bodies(r.Messages))).toEqual([['one']]);
    expect(early.filter((r) => r === 'pending')).toHaveLength(3);

    // The three still waiting each get one of three more messages (different groups on the FIFO queue).
    for (const n of [2, 3, 4]) {
      await sqs.send(
        new SendMessageCommand({ QueueUrl: url, MessageBody: `m${n}`, ...(fifo ? { MessageGroupId: `g${n}` } : {}) }),
      );
    }
    const rest = await Promise.all(pollers);
    const got = rest.flatMap((r) => bodies(r.Messages)).sort();
    expect(got).toEqual(['m2', 'm3', 'm4', 'one']);
  });

  it('does not hand a message to a long poll whose client has gone', async () => {
    const url = await createQueue(true);
    const abandoned = new AbortController();
    const gone = receive(url, 10, 10, abandoned.signal).catch((err: unknown) => err);
    await sleep(200);
    abandoned.abort();
    await gone;
    await sleep(200);
    const waiting = receive(url, 4);
    await sleep(200);
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', MessageGroupId: 'g' }));
    expect(bodies((await waiting).Messages)).toEqual(['x']);
  });

  it('finds a queue by the path of its URL, whatever host the URL names (as a proxy in front hands out)', async () => {
    const url = await createQueue(false);
    // fauxqs's own URLs (http://sqs.<region>.127.0.0.1:<port>/...) are no WHATWG URLs, so the path is cut out by hand.
    const viaOtherHost = `http://127.0.0.1:4566/${url.split('/').slice(3).join('/')}`;
    await sqs.send(new SendMessageCommand({ QueueUrl: viaOtherHost, MessageBody: 'by path' }));
    expect(bodies((await receive(viaOtherHost)).Messages)).toEqual(['by path']);
  });

  it('listens on loopback only', async () => {
    const port = Number(new URL(process.env.AWS_ENDPOINT_URL_SQS ?? '').port);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!external) return; // no other interface on this machine to try
    const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const socket = connect(port, external);
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (err) => resolve(err));
    });
    expect(error?.code).toBe('ECONNREFUSED');
  });
});
