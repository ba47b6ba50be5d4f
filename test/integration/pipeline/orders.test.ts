import { randomBytes } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { OrderRecords } from '../../../shared/aws/order-records';
import { parseCommands } from '../../../shared/domain/execution';
import { OrderEventSchema } from '../../../shared/domain/event';
import { deriveClientOrderId } from '../../../shared/domain/user-order';
import { createLedgerClient, type ClosableLedgerClient } from '../../../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { httpEvent, iamCaller, userClaims } from '../../support/lambda-events';
import { adminHandler, executeHandler, ordersHandler, pipelineClients, TestResources } from './support/fixture';
import { drainQueue } from './support/resources';
import { receiveRecords, sqsEvent } from './support/sqs-event';

/**
 * POST /orders, DELETE /orders/{orderId} and the admin routes, invoked with API Gateway payload 2.0 events (JWT
 * claims and IAM authorizer results as API Gateway hands them over) against the real emulators (DynamoDB, SQS FIFO)
 * and a real 3-node ledger. An entered order goes through the real commands queue and the real execute handler.
 */

jest.setTimeout(120_000);

const RAFT_SECRET = 'pipeline-orders-test-secret';
const { kinesis, dynamodb, documents, sqs, sns } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs, sns });
let cluster: RaftCluster;
let ledger: ClosableLedgerClient;
let ordersTable: string;
let strategyTable: string;
let commandsUrl: string;
let eventsUrl: string;
let topicArn: string;
let dlqUrl: string;
/** The live-delivery account-updates queue execute sends its orders' updates to. */
let accountUpdatesUrl: string;
let orders: ReturnType<typeof ordersHandler>;
let admin: ReturnType<typeof adminHandler>;

const raftEnv = () => ({ RAFT_MEMBERS: cluster.httpUrls.join(','), RAFT_AUTH_SECRET: RAFT_SECRET });
const ordersEnv = (limit = 50) => ({
  ...raftEnv(),
  ORDERS_TABLE_NAME: ordersTable,
  STRATEGY_TABLE_NAME: strategyTable,
  COMMANDS_QUEUE_URL: commandsUrl,
  EVENTS_TOPIC_ARN: topicArn,
  ORDER_RATE_LIMIT_PER_SECOND: String(limit),
  ORDER_HISTORY_RETENTION_DAYS: '90',
});

const trader = (account: string) => userClaims(account, ['trader']);
type Authorizer = NonNullable<Parameters<typeof httpEvent>[2]>['authorizer'];
const post = (body: unknown, authorizer: Authorizer) =>
  orders(httpEvent('POST', '/orders', { body: JSON.stringify(body), authorizer }));
const del = (orderId: string, authorizer: Authorizer) =>
  orders(httpEvent('DELETE', `/orders/${orderId}`, { pathParameters: { orderId }, authorizer }));
const bodyOf = (res: APIGatewayProxyStructuredResultV2) => JSON.parse(res.body as string) as Record<string, unknown>;
const uniq = () => randomBytes(4).toString('hex');
const market = (clientOrderId: string, extra: Record<string, unknown> = {}) => ({
  clientOrderId,
  symbol: 'AAPL',
  side: 'BUY',
  type: 'market',
  quantity: 3,
  ...extra,
});

/** The real execute handler over this file's queues and cluster. */
const executor = () =>
  executeHandler(
    { documents, sqs, sns },
    {
      ...raftEnv(),
      ORDERS_TABLE_NAME: ordersTable,
      ORDER_HISTORY_RETENTION_DAYS: '90',
      EVENTS_TOPIC_ARN: topicArn,
      COMMANDS_DLQ_URL: dlqUrl,
      ACCOUNT_UPDATES_QUEUE_URL: accountUpdatesUrl,
    },
    async () => ledger,
  );

/** Runs execute over everything in the commands queue, as the event source mapping would. */
async function executeQueued(): Promise<void> {
  const execute = executor();
  for (let records = await receiveRecords(sqs, commandsUrl); records.length > 0;) {
    expect((await execute(sqsEvent(...records))).batchItemFailures).toEqual([]);
    records = await receiveRecords(sqs, commandsUrl);
  }
}

beforeAll(async () => {
  cluster = await startRaftCluster({ secret: RAFT_SECRET });
  ledger = createLedgerClient({ members: cluster.httpUrls, authSecret: RAFT_SECRET });
  let events: { topicArn: string; queueUrls: string[] };
  [ordersTable, strategyTable, commandsUrl, events, dlqUrl, accountUpdatesUrl] = await Promise.all([
    resources.table('orders', 'id'),
    resources.table('strategy', 'symbol'),
    resources.fifoQueue('commands'),
    resources.fifoTopic('events'),
    resources.fifoQueue('commands-dlq'),
    resources.fifoQueue('account-updates'),
  ]);
  topicArn = events.topicArn;
  eventsUrl = events.queueUrls[0]!;
  // The last price as process records it with the strategy state (functions/process/state-store.ts).
  await documents.send(new PutCommand({ TableName: strategyTable, Item: { symbol: 'AAPL', lastPrice: 100 } }));
  orders = ordersHandler({ documents, sqs, sns }, ordersEnv());
  const watched = [{ name: 'commands', url: commandsUrl, deadLettersUrl: dlqUrl }];
  admin = adminHandler({ ...raftEnv(), WATCHED_QUEUES: JSON.stringify(watched) }, sqs);
});
afterAll(async () => {
  ledger?.close();
  await resources.deleteAll();
  await cluster?.stop();
});
beforeEach(async () => {
  await Promise.all([drainQueue(sqs, commandsUrl), drainQueue(sqs, eventsUrl)]);
});

describe('POST /orders', () => {
  it('enters a market order once: 202 PENDING, the same answer again, one command, executed at the last price', async () => {
    const account = `A-${uniq()}`;
    const first = await post(market('c-1'), trader(account));
    expect(first.statusCode).toBe(202);
    const orderId = deriveClientOrderId(account, 'c-1');
    expect(bodyOf(first)).toEqual({ orderId, status: 'PENDING' });
    expect(bodyOf(await post(market('c-1'), trader(account)))).toEqual({ orderId, status: 'PENDING' });
    const queued = await receiveRecords(sqs, commandsUrl);
    expect(queued).toHaveLength(1);
    const order = { orderId, account, symbol: 'AAPL', side: 'BUY', quantity: 3, price: 100 };
    expect(parseCommands(queued[0]!.body)).toEqual([
      { ok: true, part: 0, command: expect.objectContaining({ order }) },
    ]);
    expect(queued[0]!.attributes).toMatchObject({ MessageGroupId: 'AAPL', MessageDeduplicationId: orderId });
    // The same command execute would get from the queue, through the real execute handler.
    expect((await executor()(sqsEvent(...queued))).batchItemFailures).toEqual([]);
    expect(await ledger.getOrder(orderId)).toMatchObject({ status: 'ACCEPTED', price: 100, account });
  });

  it('refuses bad fields with 400 naming each, and the account in a user body', async () => {
    const bad = await post(
      { clientOrderId: '', symbol: 'AAPL', side: 'HOLD', type: 'limit', quantity: 1.5 },
      trader('A1'),
    );
    expect(bad.statusCode).toBe(400);
    const fields = (bodyOf(bad).errors as { field: string }[]).map((e) => e.field).sort();
    expect(fields).toEqual(['clientOrderId', 'limitPrice', 'quantity', 'side']);
    const named = await post(market('c-2', { account: 'OTHER' }), trader('A1'));
    expect(bodyOf(named)).toMatchObject({ errors: [{ field: 'account' }] });
    const notJson = await orders(httpEvent('POST', '/orders', { body: '{', authorizer: trader('A1') }));
    expect(notJson.statusCode).toBe(400);
  });

  it('refuses a viewer (403), an unauthenticated event (403) and an IAM caller without an account (400)', async () => {
    expect((await post(market('v-1'), userClaims('A1', ['viewer']))).statusCode).toBe(403);
    expect((await orders(httpEvent('POST', '/orders', { body: JSON.stringify(market('x')) }))).statusCode).toBe(403);
    expect(bodyOf(await post(market('i-1'), iamCaller()))).toMatchObject({ errors: [{ field: 'account' }] });
    const service = await post(market(`i-${uniq()}`, { account: 'A-SVC' }), iamCaller());
    expect(service.statusCode).toBe(202);
  });

  it('answers 409 naming the fields when a clientOrderId is reused for another order', async () => {
    const account = `A-${uniq()}`;
    expect((await post(market('c-3'), trader(account))).statusCode).toBe(202);
    const reused = await post(market('c-3', { quantity: 4, side: 'SELL' }), trader(account));
    expect(reused.statusCode).toBe(409);
    expect(bodyOf(reused)).toMatchObject({ conflicts: ['side', 'quantity'] });
    expect(bodyOf(reused).message).toMatch(/side, quantity differ/);
  });

  it('fills a marketable IOC limit order at the last price; one that is not expires with its reason', async () => {
    const account = `A-${uniq()}`;
    const ok = await post(market('l-1', { type: 'limit', limitPrice: 101 }), trader(account));
    expect(ok.statusCode).toBe(202);
    const expired = await post(market('l-2', { type: 'limit', limitPrice: 99 }), trader(account));
    expect(expired.statusCode).toBe(200);
    expect(bodyOf(expired)).toMatchObject({ status: 'EXPIRED', reason: expect.stringMatching(/last price 100/) });
    expect(bodyOf(await post(market('l-2', { type: 'limit', limitPrice: 99 }), trader(account)))).toEqual(
      bodyOf(expired),
    );
    expect(await drainQueue(sqs, commandsUrl)).toHaveLength(1);
    expect((await post(market('n-1', { symbol: 'NOPRICE' }), trader(account))).statusCode).toBe(409);
  });

  it('limits orders per account per second with a 429 before anything is queued', async () => {
    const limited = ordersHandler({ documents, sqs, sns }, ordersEnv(3));
    const account = `A-${uniq()}`;
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        limited(httpEvent('POST', '/orders', { body: JSON.stringify(market(`r-${i}`)), authorizer: trader(account) })),
      ),
    );
    const codes = answers.map((a) => a.statusCode);
    // Eight at once span at most two one-second windows of 3: at least two are refused.
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(2);
    expect(codes.filter((c) => c !== 429).every((c) => c === 202)).toBe(true);
    const refused = answers.find((a) => a.statusCode === 429)!;
    expect(bodyOf(refused)).toMatchObject({ retryAfterSeconds: 1, message: expect.stringMatching(/too many orders/) });
    expect(refused.headers).toMatchObject({ 'retry-after': '1' });
    expect((await drainQueue(sqs, commandsUrl)).length).toBe(codes.filter((c) => c === 202).length);
  });
});

describe('DELETE /orders/{orderId}', () => {
  it('cancels an order before it executes: 200 CANCELED, one CANCELED event, the order then not executed', async () => {
    const account = `A-${uniq()}`;
    await post(market('d-1'), trader(account));
    const orderId = deriveClientOrderId(account, 'd-1');
    const canceled = await del(orderId, trader(account));
    expect(canceled.statusCode).toBe(200);
    expect(bodyOf(canceled)).toEqual({ orderId, status: 'CANCELED' });
    expect(bodyOf(await del(orderId, trader(account)))).toEqual({ orderId, status: 'CANCELED' });
    // The queued order now reaches execute: the ledger answers CANCELED, execute republishes the stored event.
    await executeQueued();
    expect(await ledger.getOrder(orderId)).toMatchObject({ status: 'CANCELED', account });
    const events = (await drainQueue(sqs, eventsUrl)).map((m) => OrderEventSchema.parse(JSON.parse(m.Body!)));
    expect(events.filter((e) => e.orderId === orderId)).toEqual([expect.objectContaining({ status: 'CANCELED' })]);
    const record = await new OrderRecords(documents, ordersTable).read(orderId);
    expect(record).toMatchObject({ status: 'CANCELED' });
  });

  it('refuses the cancel of an executed order with 409 EXECUTED', async () => {
    const account = `A-${uniq()}`;
    await post(market('d-2'), trader(account));
    await executeQueued();
    const orderId = deriveClientOrderId(account, 'd-2');
    const refused = await del(orderId, trader(account));
    expect(refused.statusCode).toBe(409);
    expect(bodyOf(refused)).toEqual({ orderId, status: 'EXECUTED' });
  });

  it("hides another account's order (404), refuses a viewer (403), and lets an admin cancel", async () => {
    const account = `A-${uniq()}`;
    await post(market('d-3'), trader(account));
    const orderId = deriveClientOrderId(account, 'd-3');
    expect((await del(orderId, trader('SOMEONE-ELSE'))).statusCode).toBe(404);
    expect((await del('u-unknown', trader(account))).statusCode).toBe(404);
    expect((await del(orderId, userClaims(account, ['viewer']))).statusCode).toBe(403);
    expect((await del('..', trader(account))).statusCode).toBe(400);
    const byAdmin = await del(orderId, userClaims('OPS', ['admin']));
    expect(bodyOf(byAdmin)).toEqual({ orderId, status: 'CANCELED' });
  });
});

describe('admin routes', () => {
  const iamEvent = (method: string, path: string, body?: unknown, authorizer: Authorizer = iamCaller()) =>
    httpEvent(method, path, { ...(body === undefined ? {} : { body: JSON.stringify(body) }), authorizer });

  it('refuses a trader token with 403 (on /admin and /operator) and a halt without a reason with 400', async () => {
    for (const path of ['/admin/halt', '/operator/halt']) {
      const trade = await admin(httpEvent('POST', path, { body: '{"reason":"x"}', authorizer: trader('A1') }));
      expect(trade.statusCode).toBe(403);
      expect(bodyOf(trade).message).toMatch(/admin role/);
    }
    const noReason = await admin(iamEvent('POST', '/admin/halt', {}));
    expect(bodyOf(noReason)).toMatchObject({ errors: [{ field: 'reason' }] });
  });

  it('halts (orders are then rejected with the reason), changes limits, shows the cluster, resumes', async () => {
    const halted = await admin(iamEvent('POST', '/admin/halt', { reason: 'exchange outage' }));
    expect(bodyOf(halted)).toEqual({ halted: true, haltReason: 'exchange outage' });
    const account = `A-${uniq()}`;
    await post(market('h-1'), trader(account));
    await executeQueued();
    expect(await ledger.getOrder(deriveClientOrderId(account, 'h-1'))).toMatchObject({
      status: 'REJECTED',
      reason: 'trading is halted: exchange outage',
    });

    const limits = await admin(
      iamEvent('PUT', '/admin/limits', { maxOrderQuantity: 5_000, reason: 'tighter' }, userClaims('OPS', ['admin'])),
    );
    expect(bodyOf(limits)).toMatchObject({ maxOrderQuantity: 5_000 });
    expect((await admin(iamEvent('PUT', '/admin/limits', { reason: 'none' }))).statusCode).toBe(400);
    expect((await admin(iamEvent('PUT', '/admin/limits', { maxOrderQuantity: -1 }))).statusCode).toBe(400);

    const view = bodyOf(await admin(iamEvent('GET', '/admin/cluster')));
    expect(view).toMatchObject({ leader: expect.any(String), term: expect.any(Number), halted: true });
    // The watched queue's depths, read from SQS: executeQueued left nothing waiting.
    expect(view.queues).toEqual([
      { name: 'commands', waiting: 0, inFlight: expect.any(Number), deadLetters: expect.any(Number) },
    ]);
    expect(view.members).toHaveLength(3);
    expect(view.members).toEqual(
      expect.arrayContaining([expect.objectContaining({ role: 'leader', healthy: true, lag: expect.any(Number) })]),
    );

    // An admin-group user's token reaches the same operations on /operator/* (the console's way in).
    const asAdminUser = await admin(
      iamEvent('POST', '/operator/resume', { reason: 'back' }, userClaims('OPS', ['admin'])),
    );
    expect(bodyOf(asAdminUser)).toEqual({ halted: false, haltReason: null });
  });
});
