import { createHash } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamRecord, SQSRecord } from 'aws-lambda';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { accountUpdatesForwarder } from '../../../shared/aws/account-updates';
import { createConnectionPoster } from '../../../shared/aws/connection-poster';
import { DeliveryLog } from '../../../shared/aws/delivery-log';
import { CandleLookup, MarketDataStore } from '../../../shared/aws/market-data-store';
import { wireOrderEntry } from '../../../shared/aws/order-entry';
import { OrderRecords } from '../../../shared/aws/order-records';
import { ConnectionStore } from '../../../shared/aws/ws-connections';
import { accountUpdatesMessages, type OrderUpdate } from '../../../shared/domain/live-delivery';
import { createLedgerClient } from '../../../shared/raft-client/client';
import { createLogger } from '../../../shared/powertools';
import { createWsConnectionHandler } from '../../../functions/ws-connection/app';
import { createWsNotifierHandler, type WsNotifierDeps } from '../../../functions/ws-notifier/app';
import { fakeContext, wsEvent } from '../../support/lambda-events';
import { pipelineClients, TestResources } from '../pipeline/support/fixture';
import { powertoolsEnv } from '../pipeline/support/env';
import { commandsIn, deliverThroughQueue, receiveRecords, recordArn } from '../pipeline/support/sqs-event';
import {
  ConnectionsEndpoint,
  createLiveDeliveryTables,
  deleteLiveDeliveryTables,
  type LiveDeliveryTables,
} from './support/live-delivery';

/**
 * The connection function and the notifier as their Lambda entries wire them, invoked with AWS's WebSocket, SQS
 * and Kinesis event shapes, against DynamoDB Local and fauxqs through the real SDK, a one-node Raft ledger, and
 * @connections reached by the real management API client (see ConnectionsEndpoint). Order entry over the socket
 * runs the same use-cases as POST /orders (shared/aws/order-entry.ts) over real tables, queue and topic; candle
 * updates read what the real MarketDataStore wrote.
 */
const RAFT_SECRET = 'ws-handlers-test-secret';
const RATE_LIMIT = 3;
const clients = pipelineClients();
const resources = new TestResources(clients);
const endpoint = new ConnectionsEndpoint();
let tables: LiveDeliveryTables;
let cluster: RaftCluster;
/** The notifier's account-updates queue (group = account); the tests' order updates go through it. */
let eventsUrl: string;
/** The notifier's subscription of the order-events topic (group = symbol): forwarded to eventsUrl. */
let orderEventsUrl: string;
let ordersTable: string;
let strategyTable: string;
let commandsUrl: string;
let orderEvents: { topicArn: string; queueUrls: string[] };
let marketTables: { ticks: string; candles: string };
let connections: ConnectionStore;
let log: DeliveryLog<OrderUpdate>;
let ledger: ReturnType<typeof createLedgerClient>;
let connection: ReturnType<typeof createWsConnectionHandler>;
let notifier: ReturnType<typeof createWsNotifierHandler>;
let notifierDeps: WsNotifierDeps;

beforeAll(async () => {
  [tables, cluster, eventsUrl, ordersTable] = await Promise.all([
    createLiveDeliveryTables(clients.dynamodb),
    startRaftCluster({ size: 1, secret: RAFT_SECRET, env: { LOG_LEVEL: 'warn' } }),
    resources.fifoQueue('ws-account-updates'),
    resources.table('orders', 'id'),
    endpoint.start(),
  ]);
  [strategyTable, commandsUrl, orderEvents, marketTables, orderEventsUrl] = await Promise.all([
    resources.table('strategy', 'symbol'),
    resources.fifoQueue('ws-commands'),
    resources.fifoTopic('ws-events'),
    resources.marketDataTables(),
    resources.fifoQueue('ws-order-events'),
  ]);
  await clients.documents.send(new PutCommand({ TableName: strategyTable, Item: { symbol: 'AAPL', lastPrice: 100 } }));
  connections = new ConnectionStore(clients.documents, tables);
  log = new DeliveryLog(clients.documents, tables.deliveryLog, 3600);
  ledger = createLedgerClient({ members: cluster.httpUrls, authSecret: RAFT_SECRET });
  await ledger.applyOrders([
    { orderId: 'o-a1', account: 'A1', symbol: 'AAPL', side: 'BUY', quantity: 1, price: 10 },
    { orderId: 'o-a2', account: 'A2', symbol: 'AAPL', side: 'BUY', quantity: 1, price: 10 },
  ]);
  const logger = (service: string) => createLogger(powertoolsEnv(service) as never);
  const poster = createConnectionPoster(endpoint.url, () => undefined);
  connection = createWsConnectionHandler({
    connections,
    log,
    poster,
    getOrder: (id) => ledger.getOrder(id),
    records: new OrderRecords(clients.documents, ordersTable),
    entry: wireOrderEntry(
      {
        ORDERS_TABLE_NAME: ordersTable,
        STRATEGY_TABLE_NAME: strategyTable,
        COMMANDS_QUEUE_URL: commandsUrl,
        EVENTS_TOPIC_ARN: orderEvents.topicArn,
        ORDER_RATE_LIMIT_PER_SECOND: RATE_LIMIT,
        ORDER_HISTORY_RETENTION_DAYS: 90,
      },
      clients,
      async () => ledger,
      logger('ws-connection'),
    ),
    logger: logger('ws-connection'),
  });
  notifierDeps = {
    connections,
    log,
    poster,
    candles: new CandleLookup(clients.documents, marketTables.candles),
    accountUpdates: { queueArn: recordArn(eventsUrl), forward: accountUpdatesForwarder(clients.sqs, eventsUrl) },
    concurrency: 8,
    logger: logger('ws-notifier'),
  };
  notifier = createWsNotifierHandler(notifierDeps);
}, 60_000);
afterAll(async () => {
  ledger?.close();
  await Promise.all([
    cluster?.stop(),
    resources.deleteAll(),
    endpoint.stop(),
    tables && deleteLiveDeliveryTables(clients.dynamodb, tables),
  ]);
});

const user = (account: string, roles = 'trader') => ({ sub: `user-${account}`, account, roles });
const invoke = (event: ReturnType<typeof wsEvent>) => connection(event, fakeContext('ws-connection'));
const connect = (id: string, account: string, headers?: Record<string, string>) =>
  invoke(wsEvent('CONNECT', id, { authorizer: user(account), headers }));
const say = async (id: string, message: unknown) => {
  await invoke(wsEvent('MESSAGE', id, { body: typeof message === 'string' ? message : JSON.stringify(message) }));
  return endpoint.take(id);
};
let eventNo = 0;
function orderEvent(account: string, status = 'ACCEPTED', orderId = `o-${account}-${++eventNo}`) {
  return { orderId, account, status, symbol: 'AAPL', side: 'BUY', quantity: 1, price: 10, seq: eventNo };
}
/** Each event as an account-updates message of its own (a record per event), through the real queue. */
async function throughQueue(...events: ReturnType<typeof orderEvent>[]): Promise<SQSRecord[]> {
  return throughQueueAs(events.map((e) => [e]));
}
/** One account-updates message per list of updates, packed as the forwarder packs them, through the real queue. */
async function throughQueueAs(messages: ReturnType<typeof orderEvent>[][]): Promise<SQSRecord[]> {
  const records: SQSRecord[] = [];
  for (const m of messages.flatMap(accountUpdatesMessages))
    records.push(await deliverThroughQueue(clients.sqs, eventsUrl, m.body, m.account, m.deduplicationId));
  return records;
}
const notify = (records: SQSRecord[]) =>
  notifier({ Records: records } as never, fakeContext('ws-notifier')) as Promise<{ batchItemFailures: unknown[] }>;

describe('connection function', () => {
  it('$connect records the authorizer’s principal, echoes the trading subprotocol; $connect without one is 403', async () => {
    await expect(connect('c-1', 'A1', { 'Sec-WebSocket-Protocol': 'trading, x.y.z' })).resolves.toEqual({
      statusCode: 200,
      headers: { 'Sec-WebSocket-Protocol': 'trading' },
    });
    expect(await connections.get('c-1')).toMatchObject({
      account: 'A1',
      subject: 'user-A1',
      roles: ['trader'],
      topics: [],
    });
    await expect(invoke(wsEvent('CONNECT', 'c-x'))).resolves.toEqual({ statusCode: 403 });
    expect(await connections.get('c-x')).toBeUndefined();
  });

  it('subscribes to the caller’s own orders and to prices; answers each request by its requestId', async () => {
    expect(await say('c-1', { action: 'subscribe', channel: 'orders', requestId: 'r1' })).toEqual([
      { type: 'subscribed', requestId: 'r1', channel: 'orders' },
    ]);
    expect(await say('c-1', { action: 'subscribe', channel: 'prices', symbols: ['aapl', 'MSFT'] })).toEqual([
      { type: 'subscribed', channel: 'prices', symbols: ['AAPL', 'MSFT'] },
    ]);
    expect((await connections.get('c-1'))?.topics.sort()).toEqual(['orders#A1', 'prices#AAPL', 'prices#MSFT']);
    expect(await connections.subscribers('orders#A1')).toEqual(['c-1']);
    expect(await say('c-1', { action: 'unsubscribe', channel: 'prices', symbols: ['MSFT'] })).toEqual([
      { type: 'unsubscribed', channel: 'prices', symbols: ['MSFT'] },
    ]);
    expect(await connections.subscribers('prices#MSFT')).toEqual([]);
  });

  it.each([
    [
      '{"action":"trade","requestId":"r9"}',
      {
        requestId: 'r9',
        error: { code: 'UNKNOWN_ACTION', message: expect.stringContaining('unknown action "trade"') },
      },
    ],
    ['{oops', { error: { code: 'BAD_REQUEST', message: 'message is not JSON' } }],
    [
      '{"action":"subscribe","channel":"orders","symbols":["AAPL"]}',
      { error: { code: 'BAD_REQUEST', message: expect.stringContaining('symbols: not allowed') } },
    ],
    [
      '{"action":"order.cancel","orderId":"bad id"}',
      { error: { code: 'BAD_REQUEST', message: expect.stringContaining('orderId') } },
    ],
  ])('answers %s with an error naming what is wrong, and changes nothing', async (body, expected) => {
    const topics = (await connections.get('c-1'))?.topics.sort();
    expect(await say('c-1', body)).toEqual([{ type: 'error', ...expected }]);
    expect((await connections.get('c-1'))?.topics.sort()).toEqual(topics);
  });

  it('order.status: the caller’s own order from the ledger; another account’s answers as unknown', async () => {
    const [own] = await say('c-1', { action: 'order.status', orderId: 'o-a1', requestId: 's1' });
    expect(own).toMatchObject({
      type: 'order.status',
      requestId: 's1',
      orderId: 'o-a1',
      order: { account: 'A1', status: 'ACCEPTED' },
      execution: null,
    });
    expect(await say('c-1', { action: 'order.status', orderId: 'o-a2' })).toEqual([
      { type: 'error', error: { code: 'NOT_FOUND', message: 'no order o-a2' } },
    ]);
  });

  it('a message on a connection whose row is gone is refused: connect again', async () => {
    expect(await say('c-unknown', { action: 'resume', since: 0 })).toEqual([
      { type: 'error', error: { code: 'FORBIDDEN', message: 'unknown connection; connect again' } },
    ]);
  });
});

describe('notifier and resume', () => {
  let firstBatch: SQSRecord[];
  beforeAll(async () => {
    await connect('c-2', 'A2');
    await connect('c-3', 'A1');
    for (const id of ['c-2', 'c-3']) await say(id, { action: 'subscribe', channel: 'orders' });
  });

  it('each connection receives exactly its own account’s updates, numbered 1, 2, 3 … per account, in order', async () => {
    const events = [
      orderEvent('A1'),
      orderEvent('A2'),
      orderEvent('A1'),
      orderEvent('A1', 'REJECTED'),
      orderEvent('A2'),
    ];
    firstBatch = await throughQueue(...events);
    expect(await notify(firstBatch)).toEqual({ batchItemFailures: [] });
    const a1 = events.filter((e) => e.account === 'A1');
    const expected = (list: typeof events) => list.map((order, i) => ({ type: 'order.update', seq: i + 1, order }));
    expect(endpoint.take('c-1')).toEqual(expected(a1));
    expect(endpoint.take('c-3')).toEqual(expected(a1));
    expect(endpoint.take('c-2')).toEqual(expected(events.filter((e) => e.account === 'A2')));
  });

  it('a message of several updates numbers them in its order; one of the format before packing (an update alone) is read too', async () => {
    const packed = [orderEvent('A5'), orderEvent('A5', 'REJECTED'), orderEvent('A5')];
    const bare = orderEvent('A5');
    const records = [
      ...(await throughQueueAs([packed])),
      await deliverThroughQueue(clients.sqs, eventsUrl, JSON.stringify(bare), 'A5', `${bare.orderId}:ACCEPTED`),
    ];
    expect(await notify(records)).toEqual({ batchItemFailures: [] });
    expect(await log.since('orders#A5', 0, 10)).toEqual(
      [...packed, bare].map((payload, i) => ({ seq: i + 1, payload })),
    );
  });

  it('a message that is not one (updates of two accounts, not JSON) is logged and acknowledged; its group goes on', async () => {
    const mixed = JSON.stringify({ updates: [orderEvent('A6'), orderEvent('A7')] });
    const next = orderEvent('A6');
    const records = [
      await deliverThroughQueue(clients.sqs, eventsUrl, mixed, 'A6', 'mixed-1'),
      await deliverThroughQueue(clients.sqs, eventsUrl, '{"updates":', 'A6', 'broken-1'),
      ...(await throughQueue(next)),
    ];
    expect(await notify(records)).toEqual({ batchItemFailures: [] });
    expect(await log.since('orders#A6', 0, 10)).toEqual([{ seq: 1, payload: next }]);
    expect(await log.since('orders#A7', 0, 10)).toEqual([]);
  });

  it('a redelivered event keeps its seq (the client drops it as a duplicate); a new one gets the next', async () => {
    // The second record of the batch above (A2's first update), delivered again as the mapping would.
    await notify([firstBatch[1]!, ...(await throughQueue(orderEvent('A2')))]);
    expect(endpoint.take('c-2').map((m) => m.seq)).toEqual([1, 3]);
  });

  it('a post that fails fails the account’s records (SQS redelivers them); a gone connection is removed', async () => {
    endpoint.failing.add('c-3');
    endpoint.gone.add('c-2');
    const records = await throughQueue(orderEvent('A1'), orderEvent('A2'));
    const result = await notify(records);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.messageId }]);
    expect(endpoint.take('c-1').map((m) => m.seq)).toEqual([4]);
    expect(await connections.get('c-2')).toBeUndefined();
    expect(await connections.subscribers('orders#A2')).toEqual([]);
    endpoint.failing.delete('c-3');
    expect(await notify([records[0]!])).toEqual({ batchItemFailures: [] });
    expect(endpoint.take('c-3').map((m) => m.seq)).toEqual([4]);
    expect(endpoint.take('c-1').map((m) => m.seq)).toEqual([4]);
  });

  it('resume {since} replays what a reconnecting client missed, in order, then says through which seq', async () => {
    await connect('c-4', 'A1');
    const replay = await say('c-4', { action: 'resume', since: 1, requestId: 'back' });
    expect(replay.map((m) => m.seq ?? m.type)).toEqual([2, 3, 4, 'resumed']);
    expect(replay.at(-1)).toEqual({
      type: 'resumed',
      requestId: 'back',
      since: 1,
      through: 4,
      replayed: 3,
      more: false,
      lost: 0,
    });
    expect(await say('c-4', { action: 'resume', since: 4 })).toEqual([
      { type: 'resumed', since: 4, through: 4, replayed: 0, more: false, lost: 0 },
    ]);
    expect(await say('c-4', { action: 'resume', since: 9 })).toEqual([
      { type: 'error', error: { code: 'BAD_REQUEST', message: 'since: 9 is past the last update (4)' } },
    ]);
  });

  it('$disconnect removes the connection and its subscription rows', async () => {
    await invoke(wsEvent('DISCONNECT', 'c-3'));
    expect(await connections.get('c-3')).toBeUndefined();
    expect(await connections.subscribers('orders#A1')).toEqual(['c-1']);
  });

  it('ticks: the latest price of each symbol goes to that symbol’s subscribers only', async () => {
    const t0 = Date.now();
    await notifier(
      {
        Records: [tickRecord('AAPL', 10, t0, 1), tickRecord('MSFT', 20, t0, 2), tickRecord('AAPL', 11, t0 + 1, 3)],
      } as never,
      fakeContext('ws-notifier'),
    );
    expect(endpoint.take('c-1')).toEqual([{ type: 'price.update', symbol: 'AAPL', price: 11, size: 2, ts: t0 + 1 }]);
    expect(endpoint.take('c-4')).toEqual([]);
  });

  it('remembers a price topic’s subscribers for the TTL: no lookup within it, a new subscriber reached after it', async () => {
    const ttlMs = 500;
    const lookups: string[] = [];
    // The real store, its lookups counted.
    const counted = Object.assign(Object.create(connections) as ConnectionStore, {
      subscribers: (topic: string) => {
        lookups.push(topic);
        return connections.subscribers(topic);
      },
    });
    const cached = createWsNotifierHandler({ ...notifierDeps, connections: counted, marketSubscribersTtlMs: ttlMs });
    const ticks = (price: number) =>
      cached({ Records: [tickRecord('IBM', price, Date.now(), price)] } as never, fakeContext('ws-notifier'));
    const prices = (id: string) => endpoint.take(id).map((m) => m.price);
    await connect('px-1', 'PX1');
    await say('px-1', { action: 'subscribe', channel: 'prices', symbols: ['IBM'] });
    await ticks(1);
    expect(prices('px-1')).toEqual([1]);
    expect(lookups.sort()).toEqual(['candles#IBM', 'prices#IBM']);
    // Within the TTL: no lookup, so a subscriber of now is not reached yet.
    await connect('px-2', 'PX2');
    await say('px-2', { action: 'subscribe', channel: 'prices', symbols: ['IBM'] });
    const before = Date.now();
    await ticks(2);
    // Checked when the batch came within the TTL (a machine slow enough to pass it in between checks what follows).
    if (Date.now() - before < ttlMs) {
      expect(lookups).toHaveLength(2);
      expect(prices('px-2')).toEqual([]);
    }
    expect(prices('px-1')).toEqual([2]);
    // After it: looked up again, both reached.
    await new Promise((resolve) => setTimeout(resolve, ttlMs + 50));
    await ticks(3);
    expect(lookups).toHaveLength(4);
    expect([prices('px-1'), prices('px-2')]).toEqual([[3], [3]]);
    // A connection gone is removed and its topic's list forgotten: the next batch looks it up again.
    endpoint.gone.add('px-2');
    await ticks(4);
    expect(await connections.get('px-2')).toBeUndefined();
    await ticks(5);
    expect(lookups.filter((t) => t === 'prices#IBM')).toHaveLength(3);
    expect(prices('px-1')).toEqual([4, 5]);
  });
});

describe('notifier: order events regrouped by account', () => {
  /** Sends events to the order-events queue as the topic does (group = symbol, dedup id = orderId). */
  async function fromTopic(...bodies: { body: string; symbol: string; id: string }[]): Promise<SQSRecord[]> {
    const records: SQSRecord[] = [];
    for (const { body, symbol, id } of bodies)
      records.push(await deliverThroughQueue(clients.sqs, orderEventsUrl, body, symbol, id));
    return records;
  }
  /**
   * A notifier whose forward refuses the batch's first update, as SQS would (retryable, or the sender's fault), and
   * sends the rest for real. The one stand-in of these tests: SendMessageBatch's failure of one entry cannot be
   * caused on demand against fauxqs.
   */
  const refusingFirst = (senderFault: boolean) =>
    createWsNotifierHandler({
      ...notifierDeps,
      accountUpdates: {
        queueArn: recordArn(eventsUrl),
        forward: async (updates) => {
          const real = await accountUpdatesForwarder(clients.sqs, eventsUrl)(updates.slice(1));
          return [{ index: 0, reason: senderFault ? 'InvalidParameterValue' : 'InternalError', senderFault }, ...real];
        },
      },
    });
  /** Everything the account-updates queue holds now, as its mapping would hand it over. */
  async function forwarded(expected: number): Promise<SQSRecord[]> {
    const out: SQSRecord[] = [];
    for (let round = 0; out.length < expected && round < 10; round++)
      out.push(...(await receiveRecords(clients.sqs, eventsUrl)));
    return out;
  }

  /** The updates account-updates messages carry, in order. */
  const updatesIn = (records: SQSRecord[]) =>
    records.flatMap((r) => (JSON.parse(r.body) as { updates: OrderUpdate[] }).updates);

  it('forwards the events to the account-updates queue packed per account (group = account), poison is acknowledged', async () => {
    const events = [orderEvent('F1'), { ...orderEvent('F2'), symbol: 'MSFT' }, orderEvent('F1', 'CANCELED')];
    const records = await fromTopic(
      ...events.map((e) => ({ body: JSON.stringify(e), symbol: e.symbol, id: e.orderId })),
      { body: '{"orderId":', symbol: 'AAPL', id: 'poison-1' },
    );
    // Nothing is sequenced or posted in this step: the seqs are given where one batch of an account runs at a time.
    expect(await notify(records)).toEqual({ batchItemFailures: [] });
    const regrouped = await forwarded(2);
    const f1Keys = [`${events[0]!.orderId}:ACCEPTED`, `${events[2]!.orderId}:CANCELED`];
    // One message per account, its updates in order; the dedup id of one update is its key, of more a digest of theirs.
    expect(
      regrouped
        .map((r) => [r.attributes.MessageGroupId, r.attributes.MessageDeduplicationId, JSON.parse(r.body)])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    ).toEqual([
      ['F1', createHash('sha256').update(f1Keys.join('\n')).digest('hex'), { updates: [events[0], events[2]] }],
      ['F2', `${events[1]!.orderId}:ACCEPTED`, { updates: [events[1]] }],
    ]);
    expect(await log.since('orders#F1', 0, 10)).toEqual([]);
    // Handed to the notifier from that queue, they get their seqs: F1's two in the order they were forwarded.
    expect(await notify(regrouped)).toEqual({ batchItemFailures: [] });
    expect(await log.since('orders#F1', 0, 10)).toEqual(
      [events[0], events[2]].map((payload, i) => ({ seq: i + 1, payload })),
    );
    expect((await log.since('orders#F2', 0, 10)).map((e) => e.seq)).toEqual([1]);
  });

  it('an event the queue does not take fails its record and the rest of its symbol group; other groups go on', async () => {
    const [aapl1, aapl2, msft] = [orderEvent('F3'), orderEvent('F3'), { ...orderEvent('F4'), symbol: 'MSFT' }];
    const records = await fromTopic(
      ...[aapl1, aapl2, msft].map((e) => ({ body: JSON.stringify(e), symbol: e.symbol, id: e.orderId })),
    );
    const result = (await refusingFirst(false)({ Records: records } as never, fakeContext('ws-notifier'))) as {
      batchItemFailures: { itemIdentifier: string }[];
    };
    expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      records[0]!.messageId,
      records[1]!.messageId,
    ]);
    // aapl2 went out too (its record is failed all the same and comes again: the same dedup id, one message).
    expect(
      updatesIn(await forwarded(2))
        .map((u) => u.orderId)
        .sort(),
    ).toEqual([aapl2.orderId, msft.orderId].sort());
  });

  it('an event the queue refuses as malformed (a sender fault) is logged and acknowledged: it never holds its group', async () => {
    const [bad, next] = [orderEvent('F5'), orderEvent('F5')];
    const records = await fromTopic(
      ...[bad, next].map((e) => ({ body: JSON.stringify(e), symbol: e.symbol, id: e.orderId })),
    );
    expect(await refusingFirst(true)({ Records: records } as never, fakeContext('ws-notifier'))).toEqual({
      batchItemFailures: [],
    });
    expect(updatesIn(await forwarded(1)).map((u) => u.orderId)).toEqual([next.orderId]);
  });
});

describe('order entry over the socket (the use-cases of POST and DELETE /orders)', () => {
  const submit = (id: string, order: Record<string, unknown>, requestId?: string) =>
    say(id, { action: 'order.submit', order, ...(requestId ? { requestId } : {}) });
  const market = (clientOrderId: string, extra: Record<string, unknown> = {}) => ({
    clientOrderId,
    symbol: 'aapl',
    side: 'BUY',
    type: 'market',
    quantity: 3,
    ...extra,
  });
  const connectAs = async (id: string, account: string, roles: string) => {
    await invoke(wsEvent('CONNECT', id, { authorizer: user(account, roles) }));
  };
  beforeAll(async () => {
    await connectAs('t-1', 'B1', 'trader');
    await connectAs('t-2', 'B2', 'trader');
    await connectAs('v-1', 'B1', 'viewer');
    await connectAs('r-1', 'B3', 'trader');
  });

  it('order.submit enters the order once for the connection’s account: the same answer again, one command', async () => {
    const [first] = await submit('t-1', market('w-1'), 'p1');
    expect(first).toEqual({ type: 'order.accepted', requestId: 'p1', orderId: expect.any(String), status: 'PENDING' });
    expect(await submit('t-1', market('w-1'), 'p2')).toEqual([{ ...first, requestId: 'p2' }]);
    const commands = await receiveRecords(clients.sqs, commandsUrl);
    // SQS FIFO deduplicates the resend by order id: one command, for B1 (the connection's account), at the last price.
    expect(commands.flatMap((r) => commandsIn(r.body)).map((c) => c.order)).toEqual([
      expect.objectContaining({ orderId: first!.orderId, account: 'B1', symbol: 'AAPL', quantity: 3, price: 100 }),
    ]);
  });

  it('refuses a reused clientOrderId with another body (CONFLICT naming the fields), bad fields (VALIDATION) and an account in the order', async () => {
    expect(await submit('t-1', market('w-1', { quantity: 4 }))).toEqual([
      {
        type: 'error',
        error: {
          code: 'CONFLICT',
          message: expect.stringContaining('its quantity differ'),
          orderId: expect.any(String),
          conflicts: ['quantity'],
        },
      },
    ]);
    expect(
      await submit('t-2', { clientOrderId: 'w-2', symbol: 'AAPL', side: 'HOLD', type: 'limit', quantity: -1 }, 'v'),
    ).toEqual([
      {
        type: 'error',
        requestId: 'v',
        error: {
          code: 'VALIDATION',
          message: 'invalid order',
          errors: [
            { field: 'side', message: expect.any(String) },
            { field: 'quantity', message: 'must be positive' },
            { field: 'limitPrice', message: 'is required for a limit order' },
          ],
        },
      },
    ]);
    expect(await submit('t-2', market('w-3', { account: 'B1' }))).toEqual([
      {
        type: 'error',
        error: {
          code: 'VALIDATION',
          message: 'invalid order',
          errors: [{ field: 'account', message: 'comes from your token; do not send it' }],
        },
      },
    ]);
  });

  it('refuses a viewer (FORBIDDEN); rate-limits per account (RATE_LIMITED with retryAfterSeconds)', async () => {
    expect(await submit('v-1', market('w-4'))).toEqual([
      { type: 'error', error: { code: 'FORBIDDEN', message: 'placing orders needs the trader role' } },
    ]);
    // 8 at once against 3 a second: however they straddle a second boundary, at least 2 are refused.
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        invoke(
          wsEvent('MESSAGE', 'r-1', { body: JSON.stringify({ action: 'order.submit', order: market(`rl-${i}`) }) }),
        ),
      ),
    );
    const replies = endpoint.take('r-1');
    const limited = replies.filter((m) => (m.error as { code?: string } | undefined)?.code === 'RATE_LIMITED');
    expect(limited.length).toBeGreaterThanOrEqual(2);
    expect(limited[0]).toEqual({
      type: 'error',
      error: { code: 'RATE_LIMITED', message: 'too many orders for account B3; retry in 1 s', retryAfterSeconds: 1 },
    });
    await drainCommands();
  });

  it('order.cancel: the ledger decides; CANCELED once (event published), again the same; executed is CONFLICT; another account’s NOT_FOUND', async () => {
    const [{ orderId }] = (await submit('t-2', market('c-1'))) as [{ orderId: string }];
    expect(await say('t-1', { action: 'order.cancel', orderId })).toEqual([
      { type: 'error', error: { code: 'NOT_FOUND', message: `no order ${orderId}` } },
    ]);
    expect(await say('t-2', { action: 'order.cancel', orderId, requestId: 'x1' })).toEqual([
      { type: 'order.canceled', requestId: 'x1', orderId, status: 'CANCELED' },
    ]);
    expect(await say('t-2', { action: 'order.cancel', orderId })).toEqual([
      { type: 'order.canceled', orderId, status: 'CANCELED' },
    ]);
    const published = await receiveRecords(clients.sqs, orderEvents.queueUrls[0]!);
    expect(published.map((r) => JSON.parse(r.body))).toEqual([
      expect.objectContaining({ orderId, account: 'B2', status: 'CANCELED' }),
    ]);
    // An order the ledger executed first: the cancel is refused with its status.
    await drainCommands();
    const [{ orderId: executed }] = (await submit('t-2', market('c-2'))) as [{ orderId: string }];
    const [command] = await receiveRecords(clients.sqs, commandsUrl);
    await ledger.applyOrders(commandsIn(command!.body).map((c) => c.order));
    expect(await say('t-2', { action: 'order.cancel', orderId: executed })).toEqual([
      {
        type: 'error',
        error: {
          code: 'CONFLICT',
          message: `order ${executed} is EXECUTED: too late to cancel`,
          orderId: executed,
          status: 'EXECUTED',
        },
      },
    ]);
  });
});

/** A tick record as the ticks stream's mapping hands it to the notifier (size 2, tickId `k<n>`). */
const tickRecord = (symbol: string, price: number, ts: number, n: number): KinesisStreamRecord =>
  ({
    eventSource: 'aws:kinesis',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/ticks',
    eventID: `shardId-000000000000:${n}`,
    kinesis: {
      partitionKey: symbol,
      sequenceNumber: String(n),
      data: Buffer.from(
        JSON.stringify({
          tick: { symbol, price, size: 2, ts, tickId: `k${n}` },
          correlationId: `c${n}`,
          ingestedAt: ts,
        }),
      ).toString('base64'),
    },
  }) as unknown as KinesisStreamRecord;

async function drainCommands(): Promise<void> {
  while ((await receiveRecords(clients.sqs, commandsUrl)).length > 0);
}

describe('candle updates', () => {
  const store = () =>
    new MarketDataStore(clients.documents, marketTables, { ticksDays: 1, candleDays: { '1m': 1, '5m': 1, '1h': 1 } });
  it('sends the stored 1m, 5m and 1h candles of a subscribed symbol, waiting for market-data’s write of the batch', async () => {
    await connect('k-1', 'A1');
    expect(await say('k-1', { action: 'subscribe', channel: 'candles', symbols: ['MSFT'] })).toEqual([
      { type: 'subscribed', channel: 'candles', symbols: ['MSFT'] },
    ]);
    const t0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 120_000;
    await store().record('MSFT', [{ tickId: 'k1', ts: t0, price: 10, size: 2, ingestedAt: t0 }]);
    // The second tick is written by market-data only after the notifier's first read: it must wait for it.
    const batch = [tickRecord('MSFT', 12, t0 + 1000, 2), tickRecord('IBM', 5, t0, 3)];
    const late = new Promise((r) => setTimeout(r, 40)).then(() =>
      store().record('MSFT', [{ tickId: 'k2', ts: t0 + 1000, price: 12, size: 2, ingestedAt: t0 }]),
    );
    await Promise.all([notifier({ Records: batch } as never, fakeContext('ws-notifier')), late]);
    const updates = endpoint.take('k-1').filter((m) => m.type === 'candle.update');
    const candle = {
      symbol: 'MSFT',
      open: 10,
      high: 12,
      low: 10,
      close: 12,
      volume: 4,
      count: 2,
      openTs: t0,
      closeTs: t0 + 1000,
    };
    expect(updates.sort((a, b) => String(a.interval).localeCompare(String(b.interval)))).toEqual([
      { type: 'candle.update', interval: '1h', start: t0 - 120_000, ...candle },
      { type: 'candle.update', interval: '1m', start: t0, ...candle },
      { type: 'candle.update', interval: '5m', start: t0 - 120_000, ...candle },
    ]);
  });
});

describe('delivery log', () => {
  it('concurrent appenders and redeliveries: every key gets one seq, and the seqs are exactly 1..n', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    // Four writers race over the same keys (each key appended 4 times, in different orders).
    const writers = [0, 1, 2, 3].map(async (w) => {
      const order = w % 2 === 0 ? keys : [...keys].reverse();
      const got: [string, number][] = [];
      for (const key of order)
        got.push([key, (await log.append('race', key, { orderId: key, account: 'R', status: 'X' })).seq]);
      return got;
    });
    const results = (await Promise.all(writers)).flat();
    const seqOf = new Map<string, number>();
    for (const [key, seq] of results) {
      expect(seqOf.get(key) ?? seq).toBe(seq);
      seqOf.set(key, seq);
    }
    expect([...seqOf.values()].sort((a, b) => a - b)).toEqual(keys.map((_, i) => i + 1));
    expect((await log.since('race', 0, 100)).map((e) => e.seq)).toEqual(keys.map((_, i) => i + 1));
  }, 60_000);

  it('two warm containers: a stale counter and a redelivered update are learned from the cancelled transaction', async () => {
    const a = new DeliveryLog<OrderUpdate>(clients.documents, tables.deliveryLog, 3600);
    const b = new DeliveryLog<OrderUpdate>(clients.documents, tables.deliveryLog, 3600);
    const batch = (...keys: string[]) =>
      keys.map((key) => ({ key, payload: { orderId: key, account: 'W', status: 'X' } }));
    const seqs = (out: { seq: number; duplicate: boolean }[]) => out.map((o) => [o.seq, o.duplicate]);
    expect(seqs(await a.appendAll('warm', batch('w1', 'w2', 'w3')))).toEqual([
      [1, false],
      [2, false],
      [3, false],
    ]);
    expect(seqs(await b.appendAll('warm', batch('w4', 'w5')))).toEqual([
      [4, false],
      [5, false],
    ]);
    // a remembers 3; the counter is at 5: its first transaction is cancelled and says so.
    expect(seqs(await a.appendAll('warm', batch('w6', 'w4', 'w7')))).toEqual([
      [6, false],
      [4, true],
      [7, false],
    ]);
    expect(seqs(await b.appendAll('warm', batch('w1', 'w8')))).toEqual([
      [1, true],
      [8, false],
    ]);
    expect((await a.since('warm', 0, 20)).map((e) => [e.seq, e.payload.orderId])).toEqual(
      ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8'].map((k, i) => [i + 1, k]),
    );
  });

  it('batch appenders racing with overlapping batches: one seq per key, exactly 1..n, each batch in its order', async () => {
    const keys = Array.from({ length: 120 }, (_, i) => `b${i}`);
    const payload = (key: string) => ({ orderId: key, account: 'R', status: 'X' });
    // Five writers, batches of 10 sliding over the keys at different offsets (so batches overlap partly), plus one
    // batch larger than a transaction's chunk; each key appended several times across writers.
    const batches = [0, 3, 5, 7, 9].map((offset) =>
      Array.from({ length: 12 }, (_, b) => keys.slice((b * 10 + offset) % 120, ((b * 10 + offset) % 120) + 10)),
    );
    const writers = batches.map(async (mine) => {
      const got: [string, number][] = [];
      for (const batch of mine) {
        const appended = await log.appendAll(
          'batch-race',
          batch.map((key) => ({ key, payload: payload(key) })),
        );
        // Within a batch, the fresh keys' seqs follow the batch's order.
        const fresh = appended.filter((a) => !a.duplicate).map((a) => a.seq);
        expect(fresh).toEqual([...fresh].sort((x, y) => x - y));
        batch.forEach((key, i) => got.push([key, appended[i]!.seq]));
      }
      return got;
    });
    const big = log.appendAll(
      'batch-race',
      keys.slice(5, 115).map((key) => ({ key, payload: payload(key) })),
    );
    const results = [
      ...(await Promise.all(writers)).flat(),
      ...(await big).map((a, i): [string, number] => [keys[5 + i]!, a.seq]),
    ];
    const seqOf = new Map<string, number>();
    for (const [key, seq] of results) {
      expect(seqOf.get(key) ?? seq).toBe(seq);
      seqOf.set(key, seq);
    }
    expect(seqOf.size).toBe(keys.length);
    expect([...seqOf.values()].sort((a, b) => a - b)).toEqual(keys.map((_, i) => i + 1));
    const stored = await log.since('batch-race', 0, 200);
    expect(stored.map((e) => e.seq)).toEqual(keys.map((_, i) => i + 1));
    for (const e of stored) expect(seqOf.get(e.payload.orderId)).toBe(e.seq);
    // A redelivered batch gets the same seqs back, marked duplicate.
    const again = await log.appendAll(
      'batch-race',
      keys.slice(0, 10).map((key) => ({ key, payload: payload(key) })),
    );
    expect(again).toEqual(keys.slice(0, 10).map((key) => ({ seq: seqOf.get(key), duplicate: true })));
  }, 60_000);

  it('entries hold a transaction’s updates: resume from inside one, across several, and past the limit', async () => {
    const payload = (n: number) => ({ orderId: `e${n}`, account: 'E', status: 'X' });
    const batch = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => ({ key: `e${from + i}`, payload: payload(from + i) }));
    await log.appendAll('entries', batch(1, 7));
    await log.appendAll('entries', batch(8, 8));
    await log.appendAll('entries', batch(9, 130)); // more than one transaction's updates: two entries
    const { Items } = await clients.documents.send(
      new QueryCommand({
        TableName: tables.deliveryLog,
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'stream' },
        ExpressionAttributeValues: { ':s': 'entries' },
      }),
    );
    // The counter, then one entry per transaction: 1–7, 8, 9–106, 107–130.
    expect(Items!.map((i) => [i.seq, i.last])).toEqual([
      [0, 130],
      [1, 7],
      [8, 8],
      [9, 106],
      [107, 130],
    ]);
    const seqs = async (since: number, limit: number) => (await log.since('entries', since, limit)).map((e) => e.seq);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
    expect(await seqs(3, 3)).toEqual([4, 5, 6]);
    expect(await seqs(6, 4)).toEqual([7, 8, 9, 10]);
    expect(await seqs(100, 200)).toEqual(range(101, 130));
    expect(await seqs(0, 500)).toEqual(range(1, 130));
    expect(await seqs(130, 10)).toEqual([]);
    expect((await log.since('entries', 104, 3)).map((e) => e.payload)).toEqual([105, 106, 107].map(payload));
  });

  it('reads entries of one update (the format before session 28) beside entries of many', async () => {
    const old = (seq: number) => ({ orderId: `old${seq}`, account: 'O', status: 'X' });
    for (const seq of [1, 2])
      await clients.documents.send(
        new PutCommand({
          TableName: tables.deliveryLog,
          Item: { stream: 'mixed', seq, key: `old${seq}`, payload: old(seq) },
        }),
      );
    await clients.documents.send(
      new PutCommand({ TableName: tables.deliveryLog, Item: { stream: 'mixed', seq: 0, last: 2 } }),
    );
    const fresh = await log.appendAll(
      'mixed',
      [3, 4].map((n) => ({ key: `new${n}`, payload: old(n) })),
    );
    expect(fresh.map((a) => a.seq)).toEqual([3, 4]);
    expect(await log.since('mixed', 1, 10)).toEqual([2, 3, 4].map((seq) => ({ seq, payload: old(seq) })));
  });

  it('large updates split a transaction’s updates by bytes, each entry under DynamoDB’s item size', async () => {
    const big = (n: number) => ({ orderId: `l${n}`, account: 'L', status: 'X', note: 'x'.repeat(100_000) });
    const appended = await log.appendAll(
      'large',
      [1, 2, 3, 4, 5].map((n) => ({ key: `l${n}`, payload: big(n) })),
    );
    expect(appended.map((a) => a.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await log.since('large', 0, 10)).map((e) => e.payload.orderId)).toEqual(['l1', 'l2', 'l3', 'l4', 'l5']);
  });
});
