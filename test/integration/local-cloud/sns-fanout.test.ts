/**
 * The order events fan-out as the embedded cloud serves it: an SNS FIFO topic on fauxqs (the local SQS also
 * serves SNS) with FIFO queues subscribed by raw message delivery, reached through the edge with the real SDK and
 * the real AWS CLI. execute publishes with publishFifoBatch exactly as here.
 */
import { GetSubscriptionAttributesCommand, ListSubscriptionsByTopicCommand } from '@aws-sdk/client-sns';
import type { Message } from '@aws-sdk/client-sqs';
import { startEdge, type Edge } from '../../../local-cloud/edge';
import { createSnsClient, createSqsClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { publishFifoBatch, type FifoMessage } from '../../../shared/aws/fifo-batch';
import { cliEnv, findAwsClis, runAwsCli } from '../../support/aws-cli';
import { emulatorBackends } from './fixtures/runtime-helpers';
import { recordCalls } from '../pipeline/support/faults';
import {
  createFifoQueue,
  createFifoTopic,
  deleteQueue,
  deleteTopic,
  drainQueue,
  subscribeQueue,
  uniqueName,
} from '../pipeline/support/resources';

jest.setTimeout(60_000);

const cli = findAwsClis()[0];
if (!cli) console.warn('sns-fanout.test: no AWS CLI is installed; skipping the CLI case');
const itCli = cli ? it : it.skip;

let edge: Edge;
let topicArn: string;
const queueUrls: string[] = [];
const target = () => ({ endpoint: edge.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
let sns: ReturnType<typeof createSnsClient>;
let sqs: ReturnType<typeof createSqsClient>;

beforeAll(async () => {
  edge = await startEdge({ port: 0, backends: emulatorBackends() });
  sns = createSnsClient(target());
  sqs = createSqsClient(target());
  topicArn = await createFifoTopic(sns, uniqueName('fanout-events'));
  // Three consumers: verify/status and the WebSocket notifier, as in the stack, and one more (a user's own).
  for (const name of ['verify', 'notifier', 'consumer']) {
    const url = await createFifoQueue(sqs, uniqueName(`fanout-${name}`));
    queueUrls.push(url);
    await subscribeQueue(sns, sqs, topicArn, url);
  }
});
afterAll(async () => {
  await Promise.all([deleteTopic(sns, topicArn), ...queueUrls.map((url) => deleteQueue(sqs, url))]);
  sns.destroy();
  sqs.destroy();
  await edge.stop();
});

/** `count` events over `groups` groups, interleaved (as execute's batches of several symbols are). */
function events(count: number, groups: number, prefix = uniqueName('ord')): FifoMessage[] {
  return Array.from({ length: count }, (_, i) => {
    const orderId = `${prefix}-${i}`;
    return {
      body: JSON.stringify({ orderId, n: i }),
      groupId: `SYM${i % groups}`,
      deduplicationId: orderId,
      attributes: { correlationId: { DataType: 'String', StringValue: `corr-${i}` } },
    };
  });
}

/** Per group, the order ids in the order received. */
function byGroup(messages: Message[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const m of messages) {
    const group = m.Attributes?.MessageGroupId ?? '?';
    (out[group] ??= []).push((JSON.parse(m.Body ?? '{}') as { orderId: string }).orderId);
  }
  return out;
}

describe('SNS FIFO fan-out to SQS FIFO subscriptions (fauxqs through the edge)', () => {
  it('every subscription gets every event, raw, with its group and dedup id, each group in publish order', async () => {
    const published = events(47, 4);
    expect((await publishFifoBatch(sns, topicArn, published)).failed).toEqual([]);
    const expected = byGroup(
      published.map((m) => ({ Body: m.body, Attributes: { MessageGroupId: m.groupId } })) as Message[],
    );
    for (const url of queueUrls) {
      const received = await drainQueue(sqs, url);
      expect(received).toHaveLength(47);
      expect(byGroup(received)).toEqual(expected);
      const first = received.find((m) => m.Body === published[0]!.body)!;
      // Raw delivery: the body is the message itself, not an SNS envelope; attributes travel along.
      expect(first.Attributes?.MessageDeduplicationId).toBe(published[0]!.deduplicationId);
      expect(first.MessageAttributes?.correlationId?.StringValue).toBe('corr-0');
    }
  });

  it('a republish within the dedup window reaches no subscription again; a new event reaches all', async () => {
    const published = events(12, 3);
    await publishFifoBatch(sns, topicArn, published);
    for (const url of queueUrls) expect(await drainQueue(sqs, url)).toHaveLength(12);
    const [fresh] = events(1, 1);
    expect((await publishFifoBatch(sns, topicArn, [...published, fresh!])).failed).toEqual([]);
    for (const url of queueUrls) {
      const again = await drainQueue(sqs, url);
      expect(again.map((m) => m.Body)).toEqual([fresh!.body]);
    }
  });

  it('an entry SNS refuses as the sender’s fault is reported by index and not resent; the others go out', async () => {
    const published = events(5, 1);
    // Over SNS's 256 KiB message limit: SenderFault, which no resend can fix.
    published[2] = { ...published[2]!, body: 'x'.repeat(256 * 1024 + 1) };
    const calls = recordCalls(sns);
    const { failed } = await publishFifoBatch(sns, topicArn, published, { sleep: async () => undefined });
    expect(failed).toEqual([{ index: 2, reason: expect.stringMatching(/^InvalidParameter/), senderFault: true }]);
    expect(calls.filter((c) => c === 'PublishBatchCommand')).toHaveLength(1);
    for (const url of queueUrls) expect(await drainQueue(sqs, url)).toHaveLength(4);
  });

  it('subscriptions are raw-delivery SQS subscriptions of the topic', async () => {
    const { Subscriptions = [] } = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: topicArn }));
    expect(Subscriptions).toHaveLength(3);
    for (const s of Subscriptions) {
      expect(s.Protocol).toBe('sqs');
      const { Attributes } = await sns.send(
        new GetSubscriptionAttributesCommand({ SubscriptionArn: s.SubscriptionArn }),
      );
      expect(Attributes?.RawMessageDelivery).toBe('true');
    }
  });

  itCli('the AWS CLI lists the topic and its subscriptions through the edge (signing scope sns)', async () => {
    const run = async (...args: string[]) =>
      JSON.parse((await runAwsCli(cli!, edge.endpoint, ['sns', ...args], cliEnv())).stdout) as Record<string, unknown>;
    const topics = (await run('list-topics')).Topics as { TopicArn: string }[];
    expect(topics.map((t) => t.TopicArn)).toContain(topicArn);
    const subs = (await run('list-subscriptions-by-topic', '--topic-arn', topicArn)).Subscriptions as unknown[];
    expect(subs).toHaveLength(3);
  });
});
