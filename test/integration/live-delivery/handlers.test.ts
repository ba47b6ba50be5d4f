import type { KinesisStreamRecord, SQSRecord } from 'aws-lambda';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { createConnectionPoster } from '../../../shared/aws/connection-poster';
import { DeliveryLog } from '../../../shared/aws/delivery-log';
import { OrderRecords } from '../../../shared/aws/order-records';
import { ConnectionStore } from '../../../shared/aws/ws-connections';
import type { OrderUpdate } from '../../../shared/domain/live-delivery';
import { createLedgerClient } from '../../../shared/raft-client/client';
import { createLogger } from '../../../shared/powertools';
import { createWsConnectionHandler } from '../../../functions/ws-connection/app';
import { createWsNotifierHandler } from '../../../functions/ws-notifier/app';
import { fakeContext, wsEvent } from '../../support/lambda-events';
import { pipelineClients, TestResources } from '../pipeline/support/fixture';
import { powertoolsEnv } from '../pipeline/support/env';
import { deliverThroughQueue } from '../pipeline/support/sqs-event';
import {
  ConnectionsEndpoint,
  createLiveDeliveryTables,
  deleteLiveDeliveryTables,
  type LiveDeliveryTables,
} from './support/live-delivery';

/**
 * The connection function and the notifier as their Lambda entries wire them, invoked with AWS's WebSocket, SQS
 * and Kinesis event shapes, against DynamoDB Local and fauxqs through the real SDK, a one-node Raft ledger, and
 * @connections reached by the real management API client (see ConnectionsEndpoint).
 */
const RAFT_SECRET = 'ws-handlers-test-secret';
const clients = pipelineClients();
const resources = new TestResources(clients);
const endpoint = new ConnectionsEndpoint();
let tables: LiveDeliveryTables;
let cluster: RaftCluster;
let eventsUrl: string;
let ordersTable: string;
let connections: ConnectionStore;
let log: DeliveryLog<OrderUpdate>;
let connection: ReturnType<typeof createWsConnectionHandler>;
let notifier: ReturnType<typeof createWsNotifierHandler>;

beforeAll(async () => {
  [tables, cluster, eventsUrl, ordersTable] = await Promise.all([
    createLiveDeliveryTables(clients.dynamodb),
    startRaftCluster({ size: 1, secret: RAFT_SECRET, env: { LOG_LEVEL: 'warn' } }),
    resources.fifoQueue('ws-order-events'),
    resources.table('orders', 'id'),
    endpoint.start(),
  ]);
  connections = new ConnectionStore(clients.documents, tables);
  log = new DeliveryLog(clients.documents, tables.deliveryLog, 3600);
  const ledger = createLedgerClient({ members: cluster.httpUrls, authSecret: RAFT_SECRET });
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
    logger: logger('ws-connection'),
  });
  notifier = createWsNotifierHandler({ connections, log, poster, concurrency: 8, logger: logger('ws-notifier') });
}, 60_000);
afterAll(async () => {
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
async function throughQueue(...events: ReturnType<typeof orderEvent>[]): Promise<SQSRecord[]> {
  const records: SQSRecord[] = [];
  for (const e of events)
    records.push(
      await deliverThroughQueue(clients.sqs, eventsUrl, JSON.stringify(e), e.account, `${e.orderId}:${e.status}`),
    );
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
      '{"action":"subscribe","channel":"candles","symbols":["AAPL"]}',
      { error: { code: 'UNAVAILABLE', message: expect.stringContaining('candles') } },
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
    const tick = (symbol: string, price: number, ts: number, n: number): KinesisStreamRecord =>
      ({
        eventSource: 'aws:kinesis',
        eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/ticks',
        eventID: `shardId-000000000000:${n}`,
        kinesis: {
          partitionKey: symbol,
          sequenceNumber: String(n),
          data: Buffer.from(
            JSON.stringify({
              tick: { symbol, price, size: 1, ts, tickId: `t${n}` },
              correlationId: `c${n}`,
              ingestedAt: ts,
            }),
          ).toString('base64'),
        },
      }) as unknown as KinesisStreamRecord;
    const t0 = Date.now();
    await notifier(
      { Records: [tick('AAPL', 10, t0, 1), tick('MSFT', 20, t0, 2), tick('AAPL', 11, t0 + 1, 3)] } as never,
      fakeContext('ws-notifier'),
    );
    expect(endpoint.take('c-1')).toEqual([{ type: 'price.update', symbol: 'AAPL', price: 11, size: 1, ts: t0 + 1 }]);
    expect(endpoint.take('c-4')).toEqual([]);
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
});
