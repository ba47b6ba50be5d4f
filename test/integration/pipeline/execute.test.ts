import { randomBytes } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createApiHandler } from '../../../functions/api/app';
import { loadApiConfig } from '../../../functions/api/config';
import { DEAD_LETTER_REASON_ATTRIBUTE, SOURCE_MESSAGE_ATTRIBUTE } from '../../../functions/execute/app';
import { loadExecuteConfig } from '../../../functions/execute/config';
import {
  createDocumentClient,
  createDynamoDbClient,
  createSnsClient,
  createSqsClient,
} from '../../../shared/aws/clients';
import { ClientOrders } from '../../../shared/aws/client-orders';
import { OrderRecords, orderRecordKey } from '../../../shared/aws/order-records';
import { CORRELATION_ID_ATTRIBUTE, MAX_COMMANDS_PER_MESSAGE, type OrderCommand } from '../../../shared/domain/command';
import { orderEvent } from '../../../shared/domain/execution';
import { OrderEventSchema, type OrderEvent } from '../../../shared/domain/event';
import { LIVE_FORWARDED_ATTRIBUTE } from '../../../shared/domain/live-delivery';
import { historyKeys, HistoryQuerySchema, historyRange } from '../../../shared/domain/order-history';
import { createLedgerClient } from '../../../shared/raft-client/client';
import type { LedgerClient } from '../../../shared/raft-client/types';
import { createLogger, MetricName } from '../../../shared/powertools';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { captureEmf, type EmfCapture } from './support/emf';
import { powertoolsEnv } from './support/env';
import { CrashSwitch, injectFault, recordCalls, refuseBatchEntries } from './support/faults';
import { executeHandler, ingestHandler, pipelineClients, processHandler, TestResources } from './support/fixture';
import { kinesisEvent } from './support/kinesis-event';
import { fakeContext, httpEvent, iamCaller, userClaims } from '../../support/lambda-events';
import { drainQueue, readAllRecords } from './support/resources';
import { deliverCommand, deliverPacked, deliverThroughQueue, receiveRecords, sqsEvent } from './support/sqs-event';

jest.setTimeout(120_000);

const RAFT_SECRET = 'pipeline-execute-test-secret';
const { kinesis, dynamodb, sqs, sns } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs, sns });
let tableName: string;
let commandsUrl: string;
let topicArn: string;
/** The events topic's subscription queue these tests read (as verify reads EventsQueue). */
let eventsUrl: string;
let dlqUrl: string;
/** The live-delivery account-updates queue (FIFO, group = account) execute sends its orders' updates to. */
let accountUpdatesUrl: string;
let cluster: RaftCluster;
let ledger: LedgerClient;
const publishedEvents: OrderEvent[] = [];
const sentUpdates: { update: OrderEvent; group: string | undefined; dedupId: string | undefined }[] = [];

/** One Lambda container: its own clients, as after a cold start. `crash` wires them to a crash switch. */
interface ContainerOptions {
  crash?: { switch: CrashSwitch; afterCommand?: string; afterLedgerApply?: boolean };
  snsFault?: Parameters<typeof injectFault>[1];
  eventsTopicArn?: string;
  refuseSqsEntry?: Parameters<typeof refuseBatchEntries>[1];
  /** Sees the container's DynamoDB and SQS clients before their first call (recordCalls). */
  onClients?: (clients: {
    dynamo: ReturnType<typeof createDynamoDbClient>;
    sqs: ReturnType<typeof createSqsClient>;
  }) => void;
  /** Counts the container's ledger batches (applyOrders calls, with their sizes). */
  ledgerBatches?: number[];
}

function container({
  crash,
  snsFault,
  eventsTopicArn = topicArn,
  refuseSqsEntry,
  onClients,
  ledgerBatches,
}: ContainerOptions = {}) {
  const ownDynamo = createDynamoDbClient();
  const ownSqs = createSqsClient();
  onClients?.({ dynamo: ownDynamo, sqs: ownSqs });
  const ownSns = createSnsClient();
  const realLedger = createLedgerClient({ members: cluster.httpUrls, authSecret: RAFT_SECRET });
  if (snsFault) injectFault(ownSns, snsFault);
  if (refuseSqsEntry) refuseBatchEntries(ownSqs, refuseSqsEntry);
  let containerLedger: LedgerClient = realLedger;
  if (crash) {
    crash.switch.wire(ownDynamo, crash.afterCommand);
    crash.switch.wire(ownSqs, crash.afterCommand);
    crash.switch.wire(ownSns, crash.afterCommand);
    // The ledger client is plain HTTP, not an SDK client: wrap it so it obeys the same switch.
    containerLedger = {
      ...realLedger,
      applyOrders: async (orders) => {
        crash.switch.guard('applyOrders');
        const results = await realLedger.applyOrders(orders);
        if (crash.afterLedgerApply) crash.switch.kill('the ledger applied the batch');
        return results;
      },
    };
  }
  if (ledgerBatches) {
    const counted = containerLedger;
    containerLedger = {
      ...counted,
      applyOrders: (orders) => {
        ledgerBatches.push(orders.length);
        return counted.applyOrders(orders);
      },
    };
  }
  return executeHandler(
    { documents: createDocumentClient(ownDynamo), sqs: ownSqs, sns: ownSns },
    executeEnv(eventsTopicArn),
    async () => containerLedger,
  );
}

/** The environment the stack gives execute, pointed at this file's resources. */
function executeEnv(eventsTopicArn = topicArn): Record<string, string> {
  return {
    ORDERS_TABLE_NAME: tableName,
    ORDER_HISTORY_RETENTION_DAYS: '90',
    EVENTS_TOPIC_ARN: eventsTopicArn,
    COMMANDS_DLQ_URL: dlqUrl,
    ACCOUNT_UPDATES_QUEUE_URL: accountUpdatesUrl,
    RAFT_MEMBERS: cluster.httpUrls.join(','),
    RAFT_AUTH_SECRET: RAFT_SECRET,
  };
}

function newCommand(overrides: Partial<OrderCommand['order']> = {}): OrderCommand {
  const id = randomBytes(4).toString('hex');
  return {
    order: {
      orderId: `shardId-000000000000:${BigInt(`0x${id}`)}:0`,
      account: `acct-${id}`,
      symbol: `S${id.toUpperCase()}`,
      side: 'BUY',
      quantity: 7,
      price: 101.25,
      ...overrides,
    },
    tickTs: Date.now() - 50,
    commandTs: Date.now() - 20,
    correlationId: `corr-${id}`,
  };
}

/** Events published so far (drained from the real queue and kept), for one order. */
async function eventsFor(orderId: string): Promise<OrderEvent[]> {
  for (const m of await drainQueue(sqs, eventsUrl)) publishedEvents.push(OrderEventSchema.parse(JSON.parse(m.Body!)));
  return publishedEvents.filter((e) => e.orderId === orderId);
}

/** Live updates sent so far (drained from the real account-updates queue and kept), for one order. */
async function updatesFor(orderId: string): Promise<typeof sentUpdates> {
  for (const m of await drainQueue(sqs, accountUpdatesUrl))
    for (const update of (JSON.parse(m.Body!) as { updates: unknown[] }).updates)
      sentUpdates.push({
        update: OrderEventSchema.parse(update),
        group: m.Attributes?.MessageGroupId,
        dedupId: m.Attributes?.MessageDeduplicationId,
      });
  return sentUpdates.filter((u) => u.update.orderId === orderId);
}

/** The order's execution record as stored (its history index keys included). */
async function storedRecord(orderId: string): Promise<Record<string, unknown> | undefined> {
  const out = await createDocumentClient(dynamodb).send(
    new GetCommand({ TableName: tableName, Key: { id: orderRecordKey(orderId) }, ConsistentRead: true }),
  );
  return out.Item;
}

/** Exactly one ledger entry: the ledger knows the order once, and the position moved by its quantity once. */
async function expectAppliedOnce(command: OrderCommand): Promise<void> {
  const stored = await ledger.getOrder(command.order.orderId);
  expect(stored).toMatchObject({ orderId: command.order.orderId, status: 'ACCEPTED' });
  const positions = await ledger.positions(command.order.account);
  expect(positions).toEqual([{ account: command.order.account, symbol: command.order.symbol, quantity: 7 }]);
  const events = await eventsFor(command.order.orderId);
  expect(events).toHaveLength(1);
  // Its execution record, the stored event with the order history's index keys: one item per order.
  expect(await storedRecord(command.order.orderId)).toMatchObject({
    orderId: command.order.orderId,
    status: 'ACCEPTED',
    seq: events[0]!.seq,
    event: events[0],
    ...historyKeys(events[0]!),
  });
  expect(events[0]).toMatchObject({
    orderId: command.order.orderId,
    status: 'ACCEPTED',
    seq: stored!.seq,
    position: 7,
    correlationId: command.correlationId,
    tickTs: command.tickTs,
  });
  // Its live update, sent by execute alongside the publish: the event itself, once (a resend within the queue's
  // deduplication window is the same message), in the account's group.
  expect(await updatesFor(command.order.orderId)).toEqual([
    { update: events[0], group: command.order.account, dedupId: `${command.order.orderId}:ACCEPTED` },
  ]);
}

let emf: EmfCapture;
beforeAll(async () => {
  let events: { topicArn: string; queueUrls: string[] };
  [cluster, commandsUrl, events, dlqUrl, tableName, accountUpdatesUrl] = await Promise.all([
    startRaftCluster({ size: 3, secret: RAFT_SECRET, env: { LOG_LEVEL: 'warn' } }),
    resources.fifoQueue('commands'),
    resources.fifoTopic('events'),
    resources.fifoQueue('commands-dlq'),
    resources.table('orders', 'id'),
    resources.fifoQueue('account-updates'),
  ]);
  topicArn = events.topicArn;
  eventsUrl = events.queueUrls[0]!;
  ledger = createLedgerClient({ members: cluster.httpUrls, authSecret: RAFT_SECRET });
});
beforeEach(() => {
  emf = captureEmf();
});
afterEach(() => emf.stop());
afterAll(async () => {
  await Promise.all([cluster?.stop(), resources.deleteAll()]);
});

describe('execute', () => {
  it('applies a command on the ledger and publishes its event (group = symbol, dedup id = orderId)', async () => {
    const command = newCommand();
    const record = await deliverCommand(sqs, commandsUrl, command);
    expect(await container()(sqsEvent(record))).toEqual({ batchItemFailures: [] });
    await expectAppliedOnce(command);
    expect(emf.total(MetricName.OrdersAccepted)).toBe(1);
    expect(emf.values(MetricName.TickToExecutionLatency)).toHaveLength(1);
  });

  it('the same command twice in sequence: one ledger entry, one event, one duplicate counted', async () => {
    const command = newCommand();
    const record = await deliverCommand(sqs, commandsUrl, command);
    const execute = container();
    expect((await execute(sqsEvent(record))).batchItemFailures).toEqual([]);
    expect((await container()(sqsEvent(record))).batchItemFailures).toEqual([]);
    await expectAppliedOnce(command);
    expect(emf.total(MetricName.DuplicatesCaught)).toBe(1);
    expect(emf.total(MetricName.OrdersAccepted)).toBe(1);
  });

  it('a resend of the same order from a replayed batch (new commandTs) is a duplicate, not a conflict', async () => {
    const command = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, command)));
    const resent = { ...command, commandTs: command.commandTs + 5_000 };
    const record = await deliverThroughQueue(
      sqs,
      commandsUrl,
      JSON.stringify(resent),
      command.order.symbol,
      'resend-1',
    );
    expect((await container()(sqsEvent(record))).batchItemFailures).toEqual([]);
    await expectAppliedOnce(command);
    expect(emf.total(MetricName.DuplicatesCaught)).toBe(1);
  });

  it('the same command twice at once: one ledger entry, one recorded event, one event', async () => {
    const command = newCommand();
    const record = await deliverCommand(sqs, commandsUrl, command);
    const [a, b] = await Promise.all([container()(sqsEvent(record)), container()(sqsEvent(record))]);
    expect([...a.batchItemFailures, ...b.batchItemFailures]).toEqual([]);
    await expectAppliedOnce(command);
  });

  // Every cut of an invocation's batch: before anything, after the ledger applied it, after the records
  // and history items were written (one transaction), after the events were sent, after the live updates were sent
  // (the messages were never deleted). New orders' records, events and live updates go out at the same time, so at
  // the last three cuts the other two may or may not have gone out; 'a first execution publishes while it records'
  // below fixes the one outcome a crash cannot choose (the events out, the records not). Each redelivery must end in
  // one ledger entry, one history item, one event and one live update per order, and the republished event must be
  // the recorded one.
  const crashPoints: { name: string; after: { afterCommand?: string; afterLedgerApply?: boolean } }[] = [
    { name: 'the ledger apply and recording', after: { afterLedgerApply: true } },
    { name: 'recording (with the history) and publishing', after: { afterCommand: 'TransactWriteItemsCommand' } },
    { name: 'publishing and the messages being deleted', after: { afterCommand: 'PublishBatchCommand' } },
    // The live updates go out alongside the publish: at this cut the publish may or may not have gone out.
    { name: 'sending the live updates and the rest', after: { afterCommand: 'SendMessageBatchCommand' } },
  ];
  // Each cut on a batch of one group, and on a batch of two groups, which share the invocation's ledger batch, record
  // and live-update send.
  const crashCases = crashPoints.flatMap((point) => [1, 2].map((groups) => ({ ...point, groups })));
  it.each(crashCases)(
    'a crash between $name ($groups group(s)) ends in one ledger entry and one event per order',
    async ({ after, groups }) => {
      const first = newCommand();
      const other = newCommand();
      const commands =
        groups === 1
          ? [first, newCommand({ symbol: first.order.symbol }), newCommand({ symbol: first.order.symbol })]
          : [
              first,
              newCommand({ symbol: first.order.symbol }),
              other,
              newCommand({ symbol: first.order.symbol }),
              newCommand({ symbol: other.order.symbol }),
            ];
      const records = [];
      for (const command of commands) records.push(await deliverCommand(sqs, commandsUrl, command));
      const crash = new CrashSwitch();
      const crashed = await container({ crash: { switch: crash, ...after } })(sqsEvent(...records));
      expect(crash.dead).toBe(true);
      // With two groups, a group that finished before the crash reports success in the answer; a crashed container's
      // answer never reaches Lambda anyway, so every message of the batch comes back below.
      if (groups === 1) {
        expect(crashed.batchItemFailures).toEqual(records.map((r) => ({ itemIdentifier: r.messageId })));
      }
      expect((await container()(sqsEvent(...records))).batchItemFailures).toEqual([]);
      for (const command of commands) await expectAppliedOnce(command);
      // And any later redelivery is a plain duplicate.
      expect((await container()(sqsEvent(...records))).batchItemFailures).toEqual([]);
      for (const command of commands) await expectAppliedOnce(command);
    },
  );

  it('marks its events as sent to live delivery (the notifier’s subscription leaves them out), and nothing else', async () => {
    const { topicArn: marked, queueUrls } = await resources.fifoTopic('marked');
    const command = newCommand();
    expect(
      (await container({ eventsTopicArn: marked })(sqsEvent(await deliverCommand(sqs, commandsUrl, command))))
        .batchItemFailures,
    ).toEqual([]);
    const [published] = await drainQueue(sqs, queueUrls[0]!);
    // As infra/pipeline-stack.ts subscribes the notifier: events with the mark are left out of its queue.
    expect(Object.keys(published?.MessageAttributes ?? {}).sort()).toEqual(
      [CORRELATION_ID_ATTRIBUTE, LIVE_FORWARDED_ATTRIBUTE].sort(),
    );
    expect(published?.MessageAttributes?.[LIVE_FORWARDED_ATTRIBUTE]?.StringValue).toBe('true');
  });

  it('an order whose live update the queue refused is failed with its group and redelivered; the rest of the batch is done', async () => {
    const first = newCommand();
    const group = [first, newCommand({ symbol: first.order.symbol })];
    const other = newCommand();
    const records = [];
    for (const command of [...group, other]) records.push(await deliverCommand(sqs, commandsUrl, command));
    // SQS refuses single entries of a batch (Failed, not a thrown call): the first order's update, every attempt.
    const refusedGroup = first.order.account;
    const out = await container({
      refuseSqsEntry: (entry) => entry.MessageGroupId === refusedGroup,
    })(sqsEvent(...records));
    // FIFO: the refused order and the rest of its group; the other group is done.
    expect(out.batchItemFailures).toEqual(records.slice(0, 2).map((r) => ({ itemIdentifier: r.messageId })));
    await expectAppliedOnce(other);
    expect(await updatesFor(first.order.orderId)).toEqual([]);
    expect((await container()(sqsEvent(...records.slice(0, 2)))).batchItemFailures).toEqual([]);
    for (const command of group) await expectAppliedOnce(command);
  });

  it('a batch mixing new orders with orders executed before: duplicates get their stored event back', async () => {
    const executed = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, executed)));
    const [stored] = await eventsFor(executed.order.orderId);
    const fresh = newCommand({ symbol: executed.order.symbol });
    const again = await deliverThroughQueue(
      sqs,
      commandsUrl,
      JSON.stringify({ ...executed, commandTs: executed.commandTs + 1 }),
      executed.order.symbol,
      'again-1',
    );
    const records = [await deliverCommand(sqs, commandsUrl, fresh), again];
    expect((await container()(sqsEvent(...records))).batchItemFailures).toEqual([]);
    await expectAppliedOnce(fresh);
    await expectAppliedOnce(executed);
    expect(emf.total(MetricName.DuplicatesCaught)).toBe(1);
    const record = await new OrderRecords(createDocumentClient(dynamodb), tableName).read(executed.order.orderId);
    expect(record?.event).toEqual(stored);
  });

  it('records a batch in one TransactWriteItems, and the records are the order history GET /orders reads', async () => {
    const first = newCommand();
    const second = newCommand({ symbol: first.order.symbol, account: first.order.account });
    let dynamoCalls: string[] = [];
    const records = [await deliverCommand(sqs, commandsUrl, first), await deliverCommand(sqs, commandsUrl, second)];
    const execute = container({
      onClients: ({ dynamo }) => (dynamoCalls = recordCalls(dynamo)),
    });
    expect((await execute(sqsEvent(...records))).batchItemFailures).toEqual([]);
    // The two records, each with its history keys, in one call: no history write of its own.
    expect(dynamoCalls).toEqual(['TransactWriteItemsCommand']);
    const history = new OrderRecords(createDocumentClient(dynamodb), tableName);
    const range = historyRange(first.order.account, HistoryQuerySchema.parse({}));
    const page = await history.list(range);
    expect(page.events.map((e) => e.orderId).sort()).toEqual([first.order.orderId, second.order.orderId].sort());
    for (const event of page.events) expect(event).toEqual((await eventsFor(event.orderId))[0]);
    // Their live updates went as one account-updates message (packed per account, in the batch's order).
    const [u1, u2] = [(await updatesFor(first.order.orderId))[0], (await updatesFor(second.order.orderId))[0]];
    expect(u1?.group).toBe(first.order.account);
    expect(u2?.dedupId).toBe(u1?.dedupId);
    expect(sentUpdates.indexOf(u1!)).toBe(sentUpdates.indexOf(u2!) - 1);
  });

  it('the groups of one invocation record together in one TransactWriteItems; a group with nothing to record does not hold it', async () => {
    const a = newCommand();
    const b = newCommand();
    const c = newCommand();
    // Three groups: two that execute, and one whose only message is poison (nothing applied, nothing to record).
    const records = [
      await deliverCommand(sqs, commandsUrl, a),
      await deliverCommand(sqs, commandsUrl, b),
      await deliverThroughQueue(sqs, commandsUrl, 'not a command', c.order.symbol, 'p-2'),
    ];
    let dynamoCalls: string[] = [];
    const execute = container({
      onClients: ({ dynamo }) => {
        dynamoCalls = recordCalls(dynamo);
      },
    });
    expect((await execute(sqsEvent(...records))).batchItemFailures).toEqual([]);
    expect(dynamoCalls).toEqual(['TransactWriteItemsCommand']);
    const history = new OrderRecords(createDocumentClient(dynamodb), tableName);
    for (const command of [a, b]) {
      expect((await history.read(command.order.orderId))?.event).toEqual((await eventsFor(command.order.orderId))[0]);
    }
    expect((await receiveRecords(sqs, dlqUrl)).map((r) => r.body)).toContain('not a command');
  });

  it('the groups of one invocation send their live updates in one SendMessageBatch, packed per account; a refused message fails each group with an update in it', async () => {
    const a = newCommand();
    const account = a.order.account;
    // Three groups (symbols) of one account, and a fourth group of another account.
    const sameAccount = [a, newCommand({ account }), newCommand({ account })];
    const other = newCommand();
    const records = [];
    for (const command of [...sameAccount, other]) records.push(await deliverCommand(sqs, commandsUrl, command));
    let sqsCalls: string[] = [];
    const refusedAccount = account;
    const out = await container({
      refuseSqsEntry: (entry) => entry.MessageGroupId === refusedAccount,
      onClients: ({ sqs: client }) => (sqsCalls = recordCalls(client)),
    })(sqsEvent(...records));
    // The account's three updates were one message, refused (every attempt): its three groups failed, the other not.
    expect(sqsCalls.every((c) => c === 'SendMessageBatchCommand')).toBe(true);
    expect(sqsCalls.length).toBeGreaterThan(1); // sendFifoBatch retried the refused entry
    expect(out.batchItemFailures).toEqual(records.slice(0, 3).map((r) => ({ itemIdentifier: r.messageId })));
    expect(await updatesFor(other.order.orderId)).toHaveLength(1);
    // The redelivery, nothing refused: one call carries the three groups' updates, in one message of the account.
    const again = container({
      onClients: ({ sqs: client }) => {
        sqsCalls = recordCalls(client);
      },
    });
    expect((await again(sqsEvent(...records.slice(0, 3)))).batchItemFailures).toEqual([]);
    expect(sqsCalls).toEqual(['SendMessageBatchCommand']);
    const updates = [];
    for (const command of sameAccount) updates.push(await updatesFor(command.order.orderId));
    expect(updates.map((u) => u.length)).toEqual([1, 1, 1]);
    expect(new Set(updates.map(([u]) => u?.dedupId)).size).toBe(1);
    expect(updates.map(([u]) => u?.group)).toEqual([account, account, account]);
    for (const command of sameAccount) expect(await eventsFor(command.order.orderId)).toHaveLength(1);
    await expectAppliedOnce(other);
  });

  it('publishes a REJECTED event with the ledger’s reason when a risk limit refuses the order', async () => {
    const command = newCommand({ quantity: 50_000 });
    const record = await deliverCommand(sqs, commandsUrl, command);
    expect((await container()(sqsEvent(record))).batchItemFailures).toEqual([]);
    const [event] = await eventsFor(command.order.orderId);
    expect(event).toMatchObject({ status: 'REJECTED', seq: null, position: 0 });
    expect(event!.reason).toEqual(expect.any(String));
    expect(emf.total(MetricName.OrdersRejected)).toBe(1);
  });

  it('poison goes to the DLQ at once with its reason; the rest of its group executes in the same batch', async () => {
    const good = newCommand();
    const sameGroup = newCommand({ symbol: good.order.symbol, account: good.order.account });
    const poison = await deliverThroughQueue(sqs, commandsUrl, '{"order":{"orderId":"x"}}', good.order.symbol, 'p-1');
    const afterPoison = await deliverCommand(sqs, commandsUrl, sameGroup);
    const other = newCommand();
    const otherRecord = await deliverCommand(sqs, commandsUrl, other);
    const response = await container()(sqsEvent(poison, afterPoison, otherRecord));
    expect(response.batchItemFailures).toEqual([]);
    expect(emf.total(MetricName.PoisonCommands)).toBe(1);
    await expectAppliedOnce(other);
    await expectAppliedOnce(sameGroup);
    const [dead] = await receiveRecords(sqs, dlqUrl);
    expect(dead?.body).toBe(poison.body);
    expect(dead?.messageAttributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toMatch(/order\.account/);
    expect(dead?.messageAttributes[SOURCE_MESSAGE_ATTRIBUTE]?.stringValue).toBe(poison.messageId);
  });

  it('a packed message (as process sends them) is one ledger batch; its invalid and refused commands go to the DLQ alone', async () => {
    const first = newCommand();
    const sameGroup = (overrides: Partial<OrderCommand['order']> = {}) =>
      newCommand({ symbol: first.order.symbol, account: first.order.account, ...overrides });
    const executedBefore = sameGroup();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, executedBefore)));
    const invalid = { ...sameGroup(), tickTs: 'soon' };
    const reused = { ...executedBefore, order: { ...executedBefore.order, quantity: 9 } };
    const last = sameGroup();
    const items = [first, invalid, reused, last];
    const record = await deliverPacked(sqs, commandsUrl, items, first.order.symbol, `packed-${first.order.orderId}`);
    const response = await container()(sqsEvent(record));
    expect(response.batchItemFailures).toEqual([]);
    expect(emf.total(MetricName.PoisonCommands)).toBe(2);
    const seqOf = async (command: OrderCommand) => (await ledger.getOrder(command.order.orderId))?.seq ?? -1;
    expect(await seqOf(last)).toBe((await seqOf(first)) + 1);
    for (const command of [first, last]) expect(await eventsFor(command.order.orderId)).toHaveLength(1);
    expect(await ledger.positions(first.order.account)).toEqual([
      { account: first.order.account, symbol: first.order.symbol, quantity: 21 },
    ]);
    const dead = await receiveRecords(sqs, dlqUrl);
    expect(dead.map((d) => [d.body, d.attributes.MessageDeduplicationId])).toEqual([
      [JSON.stringify(invalid), `${record.messageId}-1`],
      [JSON.stringify(reused), `${record.messageId}-2`],
    ]);
    expect(dead[0]!.messageAttributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toMatch(/command 1: tickTs/);
    expect(dead[1]!.messageAttributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toMatch(/ledger refused.*quantity/);
    expect(dead.map((d) => d.messageAttributes[SOURCE_MESSAGE_ATTRIBUTE]?.stringValue)).toEqual([
      record.messageId,
      record.messageId,
    ]);
  });

  it('a batch the ledger refuses is halved down to the refused order: every other order applied in order, few calls', async () => {
    const first = newCommand();
    const sameGroup = () => newCommand({ symbol: first.order.symbol, account: first.order.account });
    const executedBefore = sameGroup();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, executedBefore)));
    const items = [first, ...Array.from({ length: 39 }, sameGroup)];
    // An executed order's id reused by another order: the ledger refuses (409) any batch holding it.
    items[17] = { ...executedBefore, order: { ...executedBefore.order, quantity: 9 } };
    const record = await deliverPacked(sqs, commandsUrl, items, first.order.symbol, `halved-${first.order.orderId}`);
    const batches: number[] = [];
    expect((await container({ ledgerBatches: batches })(sqsEvent(record))).batchItemFailures).toEqual([]);
    // 40 → 20 + 20 → (10 + 10) + … → down to the one: 2·log2(40) calls or so, not one per order.
    expect(batches[0]).toBe(40);
    expect(batches.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(40)) + 1);
    const applied = items.filter((_, i) => i !== 17);
    const seqs = await Promise.all(applied.map(async (c) => (await ledger.getOrder(c.order.orderId))?.seq ?? -1));
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    const dead = await receiveRecords(sqs, dlqUrl);
    expect(dead.map((d) => d.body)).toEqual([JSON.stringify(items[17])]);
    expect(dead[0]!.messageAttributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toMatch(/ledger refused/);
  });

  it('a failure in a packed message fails it and the rest of its group; the redelivery applies each command once', async () => {
    const a = newCommand();
    const [a2, a3] = [1, 2].map(() => newCommand({ symbol: a.order.symbol, account: a.order.account }));
    const packed = (commands: OrderCommand[]) =>
      deliverPacked(sqs, commandsUrl, commands, a.order.symbol, commands[0]!.order.orderId);
    const records = [await packed([a, a2!]), await packed([a3!])];
    const refuseA2 = (name: string, input: Record<string, unknown>) =>
      name === 'PublishBatchCommand' && JSON.stringify(input).includes(a2!.order.orderId);
    const response = await container({ snsFault: refuseA2 })(sqsEvent(...records));
    expect(response.batchItemFailures).toEqual(records.map((r) => ({ itemIdentifier: r.messageId })));
    expect(await eventsFor(a2!.order.orderId)).toEqual([]);
    expect((await container()(sqsEvent(...records))).batchItemFailures).toEqual([]);
    for (const command of [a, a2!, a3!]) expect(await eventsFor(command.order.orderId)).toHaveLength(1);
    expect(await ledger.positions(a.order.account)).toEqual([
      { account: a.order.account, symbol: a.order.symbol, quantity: 21 },
    ]);
  });

  it('a group whose events SNS will not take is failed alone and redelivered; other groups are done', async () => {
    const a = newCommand();
    const b = newCommand();
    const records = [await deliverCommand(sqs, commandsUrl, a), await deliverCommand(sqs, commandsUrl, b)];
    const refuseA = (name: string, input: Record<string, unknown>) =>
      name === 'PublishBatchCommand' && JSON.stringify(input).includes(a.order.orderId);
    const response = await container({ snsFault: refuseA })(sqsEvent(...records));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.messageId }]);
    await expectAppliedOnce(b);
    expect(await eventsFor(a.order.orderId)).toEqual([]);
    expect((await container()(sqsEvent(records[0]!))).batchItemFailures).toEqual([]);
    await expectAppliedOnce(a);
  });

  it('a batch of several groups: every command applied once, each group in its queue order', async () => {
    const a1 = newCommand();
    const a2 = newCommand({ symbol: a1.order.symbol, account: a1.order.account });
    const b1 = newCommand();
    const b2 = newCommand({ symbol: b1.order.symbol, account: b1.order.account });
    const records = [];
    for (const command of [a1, b1, a2, b2]) records.push(await deliverCommand(sqs, commandsUrl, command));
    const batches: number[] = [];
    const response = await container({ ledgerBatches: batches })(sqsEvent(...records));
    expect(response.batchItemFailures).toEqual([]);
    // The two groups' orders in one ledger call (one Raft entry), not one call per group.
    expect(batches).toEqual([4]);
    const seqOf = async (command: OrderCommand) => (await ledger.getOrder(command.order.orderId))?.seq ?? -1;
    expect(await seqOf(a1)).toBeGreaterThan(0);
    expect(await seqOf(a1)).toBeLessThan(await seqOf(a2));
    expect(await seqOf(b1)).toBeGreaterThan(0);
    expect(await seqOf(b1)).toBeLessThan(await seqOf(b2));
    for (const command of [a1, a2, b1, b2]) expect(await eventsFor(command.order.orderId)).toHaveLength(1);
  });

  it('an order the ledger refuses in an invocation’s shared batch is dead-lettered alone; every other group’s order applies in its order', async () => {
    const a1 = newCommand();
    const sameGroup = (of: OrderCommand) => newCommand({ symbol: of.order.symbol, account: of.order.account });
    const executedBefore = sameGroup(a1);
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, executedBefore)));
    // Group A holds an executed order's id reused by another order (the ledger refuses any batch holding it, 409).
    const reused = { ...executedBefore, order: { ...executedBefore.order, quantity: 9 } };
    const groupA = [a1, reused, sameGroup(a1)];
    const b1 = newCommand();
    const groupB = [b1, sameGroup(b1)];
    const records = [
      await deliverPacked(sqs, commandsUrl, groupA, a1.order.symbol, `shared-a-${a1.order.orderId}`),
      await deliverPacked(sqs, commandsUrl, groupB, b1.order.symbol, `shared-b-${b1.order.orderId}`),
    ];
    const batches: number[] = [];
    const execute = container({ ledgerBatches: batches });
    expect((await execute(sqsEvent(...records))).batchItemFailures).toEqual([]);
    expect(batches[0]).toBe(5);
    const seqOf = async (command: OrderCommand) => (await ledger.getOrder(command.order.orderId))?.seq ?? -1;
    for (const group of [[groupA[0]!, groupA[2]!], groupB]) {
      const seqs = await Promise.all(group.map(seqOf));
      expect(seqs[0]).toBeGreaterThan(0);
      expect(seqs[0]).toBeLessThan(seqs[1]!);
      for (const command of group) expect(await eventsFor(command.order.orderId)).toHaveLength(1);
    }
    const dead = await receiveRecords(sqs, dlqUrl);
    expect(dead.map((d) => d.body)).toEqual([JSON.stringify(reused)]);
  });

  it('groups with more than 500 orders together go to the ledger in several batches of whole groups', async () => {
    const firsts = [newCommand(), newCommand()];
    const records = [];
    const groups: OrderCommand[][] = [];
    for (const first of firsts) {
      const group = [first];
      while (group.length < 300) group.push(newCommand({ symbol: first.order.symbol, account: first.order.account }));
      groups.push(group);
      for (let i = 0; i < group.length; i += MAX_COMMANDS_PER_MESSAGE) {
        const part = group.slice(i, i + MAX_COMMANDS_PER_MESSAGE);
        records.push(await deliverPacked(sqs, commandsUrl, part, first.order.symbol, `big-${part[0]!.order.orderId}`));
      }
    }
    const batches: number[] = [];
    const execute = container({ ledgerBatches: batches });
    // Twelve messages: more than a FIFO batch brings (ten of at most 50 commands stay within 500), but the handler
    // does not count on it.
    expect((await execute(sqsEvent(...records))).batchItemFailures).toEqual([]);
    // 600 orders are over the ledger's 500 a batch: each group whole in a batch of its own.
    expect(batches).toEqual([300, 300]);
    for (const group of groups) {
      const seqs = await Promise.all(group.map(async (c) => (await ledger.getOrder(c.order.orderId))?.seq ?? -1));
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    }
  });

  it('a redelivery after the events topic’s dedup window republishes a byte-identical event', async () => {
    // SNS FIFO drops a republish with the same dedup id only within 5 minutes. Rather than wait the window out,
    // each delivery publishes to a fresh FIFO topic that has never seen the dedup id — as the events topic is
    // after the window — so both publishes reach a consumer, and we compare what it would receive.
    const command = newCommand();
    const record = await deliverCommand(sqs, commandsUrl, command);
    const topics = new TestResources({ kinesis, dynamodb, sqs, sns });
    const [first, later] = await Promise.all([
      topics.fifoTopic('events-first'),
      topics.fifoTopic('events-after-window'),
    ]);
    const [firstUrl, laterUrl] = [first.queueUrls[0]!, later.queueUrls[0]!];
    try {
      expect((await container({ eventsTopicArn: first.topicArn })(sqsEvent(record))).batchItemFailures).toEqual([]);
      expect((await container({ eventsTopicArn: later.topicArn })(sqsEvent(record))).batchItemFailures).toEqual([]);
      const [firstMessage] = await drainQueue(sqs, firstUrl);
      const [laterMessage] = await drainQueue(sqs, laterUrl);
      expect(laterMessage!.Body).toBe(firstMessage!.Body);
      expect(laterMessage!.Attributes?.MessageDeduplicationId).toBe(firstMessage!.Attributes?.MessageDeduplicationId);
      const event = OrderEventSchema.parse(JSON.parse(firstMessage!.Body!));
      expect(event).toMatchObject({ orderId: command.order.orderId, seq: (await ledger.getOrder(event.orderId))!.seq });
      expect(emf.total(MetricName.DuplicatesCaught)).toBe(1);
    } finally {
      await topics.deleteAll();
    }
  });

  it('a first execution publishes while it records; when only the record failed, the redelivery records the published event', async () => {
    // The events of new orders are decided by the ledger's results (executedTs is the instant the leader stamped
    // on the entry), so execute sends them while their records are written. Here the record fails and the publish
    // does not: the group fails, and the redelivery (a duplicate for the ledger) records and republishes an event
    // byte-identical to the one already out. The republish goes to a fresh topic, as after the dedup window.
    const command = newCommand();
    const record = await deliverCommand(sqs, commandsUrl, command);
    const topics = new TestResources({ kinesis, dynamodb, sqs, sns });
    const [first, later] = await Promise.all([topics.fifoTopic('events-sent'), topics.fifoTopic('events-resent')]);
    try {
      const failingRecord = ({ dynamo }: { dynamo: ReturnType<typeof createDynamoDbClient> }) =>
        void injectFault(dynamo, (name) => name === 'TransactWriteItemsCommand');
      const failed = await container({ eventsTopicArn: first.topicArn, onClients: failingRecord })(sqsEvent(record));
      expect(failed.batchItemFailures).toEqual([{ itemIdentifier: record.messageId }]);
      const [sent] = await drainQueue(sqs, first.queueUrls[0]!);
      expect(await storedRecord(command.order.orderId)).toBeUndefined();
      const stamped = (await ledger.getOrder(command.order.orderId))!;
      expect(OrderEventSchema.parse(JSON.parse(sent!.Body!)).executedTs).toBe(stamped.executedTs);

      expect((await container({ eventsTopicArn: later.topicArn })(sqsEvent(record))).batchItemFailures).toEqual([]);
      const [resent] = await drainQueue(sqs, later.queueUrls[0]!);
      expect(resent!.Body).toBe(sent!.Body);
      expect((await storedRecord(command.order.orderId))?.event).toEqual(JSON.parse(sent!.Body!));
    } finally {
      await topics.deleteAll();
    }
  });

  it('a first execution whose record someone else wrote differently says so in its log (the invariant it rests on)', async () => {
    // Publishing before the record relies on nobody else recording a first execution's event; a record planted with
    // another correlation id breaks that on purpose, and execute must report it rather than pass it by silently.
    const command = newCommand();
    const planted = orderEvent(
      { ...command, correlationId: 'planted-elsewhere' },
      {
        ...command.order,
        status: 'ACCEPTED',
        seq: 1,
        duplicate: false,
        position: 7,
      },
      command.commandTs,
    );
    await new OrderRecords(createDocumentClient(dynamodb), tableName).record([planted]);
    const lines: string[] = [];
    // Powertools prints ERROR lines with console.error: to stderr (kept here, not printed).
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const record = await deliverCommand(sqs, commandsUrl, command);
      // A container whose logger prints errors (the others' are silent).
      const loud = executeHandler(pipelineClients(), { ...executeEnv(), LOG_LEVEL: 'ERROR' }, async () => ledger);
      expect((await loud(sqsEvent(record))).batchItemFailures).toEqual([]);
    } finally {
      spy.mockRestore();
    }
    expect(lines.join('')).toContain('published event differs from the one recorded before');
    expect(lines.join('')).toContain(command.order.orderId);
  });

  it('a different order reusing an executed order id is refused by the ledger and dead-lettered', async () => {
    const command = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, command)));
    const forged = { ...command, order: { ...command.order, quantity: 9 } };
    const record = await deliverThroughQueue(sqs, commandsUrl, JSON.stringify(forged), forged.order.symbol, 'forged-1');
    expect((await container()(sqsEvent(record))).batchItemFailures).toEqual([]);
    await expectAppliedOnce(command);
    const [dead] = await receiveRecords(sqs, dlqUrl);
    expect(dead?.messageAttributes[DEAD_LETTER_REASON_ATTRIBUTE]?.stringValue).toMatch(/ledger refused/);
  });
});

describe('the whole flow', () => {
  it('a tick posted to ingest becomes an order event carrying the tick’s correlation id', async () => {
    const flow = new TestResources({ kinesis, dynamodb, sqs });
    const [streamName, stateTable, flowCommandsUrl, flowFailuresUrl] = await Promise.all([
      flow.stream('flow-ticks', 1),
      flow.table('flow-state', 'symbol'),
      flow.fifoQueue('flow-commands'),
      flow.standardQueue('flow-process-failures'),
    ]);
    try {
      const ingest = ingestHandler(kinesis, {
        TICKS_STREAM_NAME: streamName,
        FEED_SYMBOLS: 'FLOW',
        FEED_TICKS_PER_SECOND: '1',
        FEED_SEED: 's',
      });
      const processTicks = processHandler(
        { documents: createDocumentClient(dynamodb), sqs },
        {
          STRATEGY_TABLE_NAME: stateTable,
          COMMANDS_QUEUE_URL: flowCommandsUrl,
          FAILURE_QUEUE_URL: flowFailuresUrl,
          STRATEGY_FAST_WINDOW: '2',
          STRATEGY_SLOW_WINDOW: '4',
          STRATEGY_ORDER_QUANTITY: '7',
          TRADING_ACCOUNT: 'acct-flow',
        },
      );

      const prices = [10, 9, 8, 7, 12];
      const ticks = prices.map((price, i) => ({
        symbol: 'FLOW',
        price,
        size: 1,
        ts: Date.now() - 1000 + i,
        tickId: `flow-${i}`,
      }));
      const posted = (await ingest(
        httpEvent('POST', '/ticks', { body: JSON.stringify(ticks) }),
        fakeContext('ingest'),
      )) as APIGatewayProxyStructuredResultV2;
      expect(posted.statusCode).toBe(202);

      const streamEvent = kinesisEvent(streamName, await readAllRecords(kinesis, streamName));
      expect((await processTicks(streamEvent)).batchItemFailures).toEqual([]);

      const commands = await receiveRecords(sqs, flowCommandsUrl);
      expect(commands).toHaveLength(1);
      expect(commands[0]!.messageAttributes.correlationId?.stringValue).toBe('flow-4');
      expect((await container()(sqsEvent(...commands))).batchItemFailures).toEqual([]);

      const orderId = 'FLOW:flow-4:0';
      const [event] = await eventsFor(orderId);
      expect(event).toMatchObject({
        status: 'ACCEPTED',
        side: 'BUY',
        price: 12,
        quantity: 7,
        position: 7,
        correlationId: 'flow-4',
      });
      expect(event!.tickTs).toBe(ticks[4]!.ts);
      expect(await ledger.positions('acct-flow')).toEqual([{ account: 'acct-flow', symbol: 'FLOW', quantity: 7 }]);
    } finally {
      await flow.deleteAll();
    }
  });
});

describe('api', () => {
  /** The api handler; requests carry an IAM caller (an operator: any account) unless the test says who calls. */
  function api(members = cluster.httpUrls) {
    const config = loadApiConfig({
      ...powertoolsEnv('api'),
      ORDERS_TABLE_NAME: tableName,
      RAFT_MEMBERS: members.join(','),
      RAFT_AUTH_SECRET: RAFT_SECRET,
    });
    const handler = createApiHandler({
      members: config.RAFT_MEMBERS,
      ledger: async () => createLedgerClient({ members: config.RAFT_MEMBERS, authSecret: RAFT_SECRET, maxAttempts: 2 }),
      records: new OrderRecords(createDocumentClient(), config.ORDERS_TABLE_NAME),
      entries: new ClientOrders(createDocumentClient(), config.ORDERS_TABLE_NAME),
      logger: createLogger(config),
    });
    return async (method: string, path: string, options: Parameters<typeof httpEvent>[2] = {}) => {
      const res = (await handler(
        httpEvent(method, path, { authorizer: iamCaller(), ...options }),
        fakeContext('api'),
      )) as APIGatewayProxyStructuredResultV2;
      return { status: res.statusCode, body: JSON.parse(res.body as string) };
    };
  }

  it('GET /orders/{orderId} answers the ledger record and the execution record with its event', async () => {
    const command = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, command)));
    const { status, body } = await api()('GET', `/orders/${command.order.orderId}`, {
      pathParameters: { orderId: command.order.orderId },
    });
    expect(status).toBe(200);
    // One status in the API's words; the ledger's own record keeps its ACCEPTED. A strategy order has no entry.
    expect(body).toMatchObject({ orderId: command.order.orderId, status: 'EXECUTED', entry: null });
    expect(body.order).toMatchObject({ orderId: command.order.orderId, status: 'ACCEPTED', position: 7 });
    expect(body.execution).toMatchObject({
      orderId: command.order.orderId,
      status: 'ACCEPTED',
      event: { orderId: command.order.orderId, correlationId: command.correlationId },
    });
    expect((await api()('GET', '/orders/never-seen-1')).status).toBe(404);
    const bad = await api()('GET', '/orders/has%20space');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^orderId:/);
  });

  it('GET /orders/{orderId} of an order entered but not yet executed answers PENDING with the entry, not 404', async () => {
    const command = newCommand();
    const { orderId, account, symbol, side, quantity } = command.order;
    const request = { symbol, side, type: 'market' as const, quantity, limitPrice: null };
    // What POST /orders writes before it queues the command (shared/aws/order-entry.ts); execute has not run.
    await new ClientOrders(createDocumentClient(), tableName).create({
      orderId,
      account,
      clientOrderId: 'c-pending-1',
      request,
      status: 'PENDING',
      createdAt: Date.now(),
    });
    const pathParameters = { orderId };
    const { status, body } = await api()('GET', `/orders/${orderId}`, {
      pathParameters,
      authorizer: userClaims(account, ['viewer']),
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ orderId, status: 'PENDING', order: null, execution: null });
    expect(body.entry).toMatchObject({ clientOrderId: 'c-pending-1', request });
    const other = await api()('GET', `/orders/${orderId}`, {
      pathParameters,
      authorizer: userClaims('acct-x', ['trader']),
    });
    expect(other.status).toBe(404);
  });

  it('GET /orders/{orderId} of another account is 404, as an unknown order is; a viewer reads its own', async () => {
    const command = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, command)));
    const path = `/orders/${command.order.orderId}`;
    const pathParameters = { orderId: command.order.orderId };
    const own = await api()('GET', path, { pathParameters, authorizer: userClaims(command.order.account, ['viewer']) });
    expect(own.status).toBe(200);
    const other = await api()('GET', path, { pathParameters, authorizer: userClaims('acct-other', ['trader']) });
    expect(other).toEqual({ status: 404, body: { message: `no order ${command.order.orderId}` } });
    const admin = await api()('GET', path, { pathParameters, authorizer: userClaims('acct-admin', ['admin']) });
    expect(admin.status).toBe(200);
    const anonymous = await api()('GET', path, { pathParameters, authorizer: undefined });
    expect(anonymous.status).toBe(403);
  });

  it('GET /positions: a user reads its own account; another account is 403; an admin reads any', async () => {
    const command = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, command)));
    const viewer = userClaims(command.order.account, ['viewer']);
    const own = await api()('GET', '/positions', { authorizer: viewer });
    expect(own.body).toEqual({
      positions: [{ account: command.order.account, symbol: command.order.symbol, quantity: 7 }],
    });
    const other = await api()('GET', '/positions', { authorizer: viewer, query: { account: 'acct-other' } });
    expect(other.status).toBe(403);
    expect(other.body.message).toMatch(/^account: you may read only your own account/);
    const admin = userClaims('acct-admin', ['admin']);
    const any = await api()('GET', '/positions', { authorizer: admin, query: { account: command.order.account } });
    expect(any.body.positions).toHaveLength(1);
  });

  it('GET /positions lists positions, by account when asked', async () => {
    const command = newCommand();
    await container()(sqsEvent(await deliverCommand(sqs, commandsUrl, command)));
    const mine = await api()('GET', '/positions', { query: { account: command.order.account } });
    expect(mine).toEqual({
      status: 200,
      body: { positions: [{ account: command.order.account, symbol: command.order.symbol, quantity: 7 }] },
    });
    const all = await api()('GET', '/positions');
    expect(all.body.positions.length).toBeGreaterThan(1);
    expect((await api()('GET', '/positions', { query: { account: 'bad account' } })).status).toBe(400);
  });

  it('GET /health reports the members and the leader; 503 when no majority answers', async () => {
    const healthy = await api()('GET', '/health');
    expect(healthy.status).toBe(200);
    expect(healthy.body.leader).toBe(await cluster.leaderId());
    expect(healthy.body.members).toHaveLength(3);
    const unreachable = ['http://127.0.0.1:9', 'http://127.0.0.1:10', cluster.httpUrls[0]!];
    const degraded = await api(unreachable)('GET', '/health');
    expect(degraded.status).toBe(503);
    expect(degraded.body.members.filter((m: { error?: string }) => m.error)).toHaveLength(2);
    expect((await api()('POST', '/health')).status).toBe(404);
  });
});

describe('execute: config', () => {
  const base = {
    ...powertoolsEnv('execute'),
    ORDERS_TABLE_NAME: 'orders',
    ORDER_HISTORY_TABLE_NAME: 'history',
    ORDER_HISTORY_RETENTION_DAYS: '90',
    EVENTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:events.fifo',
    COMMANDS_DLQ_URL: 'http://localhost:1/000000000000/commands-dlq.fifo',
    ACCOUNT_UPDATES_QUEUE_URL: 'http://localhost:1/000000000000/account-updates.fifo',
    RAFT_MEMBERS: 'http://127.0.0.1:1,http://127.0.0.1:2',
    RAFT_AUTH_SECRET: 's',
  };
  it('fails at init naming the bad variable', () => {
    expect(loadExecuteConfig(base).RAFT_MEMBERS).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2']);
    const { ORDERS_TABLE_NAME: _omit, ...missing } = base;
    expect(() => loadExecuteConfig(missing)).toThrow(/ORDERS_TABLE_NAME is not set/);
    expect(() => loadExecuteConfig({ ...base, RAFT_MEMBERS: 'not a url' })).toThrow(/RAFT_MEMBERS/);
    expect(() => loadExecuteConfig({ ...base, ORDER_HISTORY_RETENTION_DAYS: '0' })).toThrow(
      /ORDER_HISTORY_RETENTION_DAYS/,
    );
    expect(() => loadExecuteConfig({ ...base, RAFT_REQUEST_TIMEOUT_MS: '5s' })).toThrow(/RAFT_REQUEST_TIMEOUT_MS/);
    const { RAFT_AUTH_SECRET: _s, ...noSecret } = base;
    expect(() => loadExecuteConfig(noSecret)).toThrow(
      /exactly one of RAFT_CLIENT_KEY, RAFT_CLIENT_KEY_ARN, RAFT_AUTH_SECRET and/,
    );
  });
});
