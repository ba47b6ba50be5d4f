import { randomBytes } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createApiHandler } from '../../../functions/api/app';
import { loadApiConfig } from '../../../functions/api/config';
import { createDocumentClient, createDynamoDbClient } from '../../../shared/aws/clients';
import { OrderRecords, orderRecordKey } from '../../../shared/aws/order-records';
import { ClientOrders } from '../../../shared/aws/client-orders';
import type { OrderEvent } from '../../../shared/domain/event';
import {
  encodeCursor,
  HistoryQuerySchema,
  historyRange,
  ORDER_RECORD_MIN_DAYS,
  sortKey,
} from '../../../shared/domain/order-history';
import type { LedgerClient } from '../../../shared/raft-client/types';
import { createLogger } from '../../../shared/powertools';
import { fakeContext, httpEvent, iamCaller, userClaims } from '../../support/lambda-events';
import { powertoolsEnv } from './support/env';
import { injectFault, recordCalls } from './support/faults';
import { pipelineClients, TestResources } from './support/fixture';

jest.setTimeout(60_000);

const { kinesis, dynamodb, documents, sqs, sns } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs, sns });
/** OrdersTable with the history's two indexes, as deployed. */
let table: string;

beforeAll(async () => {
  table = await resources.table('orders', 'id');
});
afterAll(() => resources.deleteAll());

function orderEvent(overrides: Partial<OrderEvent> = {}): OrderEvent {
  const id = randomBytes(4).toString('hex');
  const now = Date.now();
  return {
    orderId: `ord-${id}`,
    status: 'ACCEPTED',
    seq: 1,
    reason: null,
    account: `acct-${id}`,
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 5,
    price: 100.5,
    position: 5,
    tickTs: now - 30,
    commandTs: now - 20,
    executedTs: now - 10,
    correlationId: `corr-${id}`,
    ...overrides,
  };
}

const DAY = 86_400;

describe('execution records', () => {
  it('a batch mixing new and recorded orders: one call, a second without the recorded ones, which keep their event', async () => {
    const records = new OrderRecords(documents, table);
    const recorded = [orderEvent(), orderEvent()];
    await records.record(recorded);
    const client = createDynamoDbClient();
    const calls = recordCalls(client);
    const traced = new OrderRecords(createDocumentClient(client), table);
    const fresh = orderEvent();
    // The redelivered orders come back with another execution time: the stored event stands, not this one.
    const again = recorded.map((e) => ({ ...e, executedTs: e.executedTs + 1_000 }));
    const standing = await traced.record([again[0]!, fresh, again[1]!]);
    expect(calls).toEqual(['TransactWriteItemsCommand', 'BatchGetItemCommand', 'TransactWriteItemsCommand']);
    expect(standing.get(fresh.orderId)).toEqual({ event: fresh, stored: false });
    for (const e of recorded) expect(standing.get(e.orderId)).toEqual({ event: e, stored: true });
    expect((await records.read(fresh.orderId))?.event).toEqual(fresh);
  });

  it('more orders than one transaction takes are recorded in transactions of 100', async () => {
    const client = createDynamoDbClient();
    const calls = recordCalls(client);
    const events = Array.from({ length: 130 }, () => orderEvent());
    const standing = await new OrderRecords(createDocumentClient(client), table).record(events);
    expect(calls).toEqual(['TransactWriteItemsCommand', 'TransactWriteItemsCommand']);
    expect([...standing.values()].filter((r) => !r.stored)).toHaveLength(130);
  });

  it('a transaction cancelled for another reason than a condition is tried again and written', async () => {
    const events = [orderEvent(), orderEvent()];
    const client = createDynamoDbClient();
    const calls = recordCalls(client);
    // A mock of the response, because no emulator makes a transaction conflict on demand: the first transaction
    // is answered as DynamoDB answers one that met another transaction on its second item (nothing is written).
    let conflicts = 1;
    injectFault(client, (name) => {
      if (name !== 'TransactWriteItemsCommand' || conflicts-- <= 0) return false;
      throw new TransactionCanceledException({
        message:
          'Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict]',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
      });
    });
    const records = new OrderRecords(createDocumentClient(client), table, { sleep: () => Promise.resolve() });
    const standing = await records.record(events);
    expect(calls).toEqual(['TransactWriteItemsCommand', 'TransactWriteItemsCommand']);
    for (const e of events) {
      expect(standing.get(e.orderId)).toEqual({ event: e, stored: false });
      expect((await records.read(e.orderId))?.event).toEqual(e);
    }
  });
});

describe('execution records as the order history', () => {
  it('a record carries its index keys and is kept for the retention from its creation, 14 days after its write at least', async () => {
    const records = new OrderRecords(documents, table, { retentionDays: 30 });
    const now = Date.now();
    const recent = orderEvent({ commandTs: now - 1_000 });
    // Created 20 days ago (a command redelivered that late): 30 days from creation would leave 10; 14 stand.
    const old = orderEvent({ commandTs: now - 20 * DAY * 1000 });
    await records.record([recent, old], now);
    const item = async (e: OrderEvent) =>
      (await documents.send(new GetCommand({ TableName: table, Key: { id: orderRecordKey(e.orderId) } }))).Item!;
    expect(await item(recent)).toMatchObject({
      account: recent.account,
      accountSymbol: `${recent.account}#AAPL`,
      sk: sortKey(recent.commandTs, recent.orderId),
      expiration: Math.floor(recent.commandTs / 1000) + 30 * DAY,
    });
    expect((await item(old)).expiration).toBe(Math.floor(now / 1000) + ORDER_RECORD_MIN_DAYS * DAY);
  });

  it('only records with an account are in the history: an entry record, or an event recorded before events carried one, are not', async () => {
    const account = `acct-sparse-${randomBytes(3).toString('hex')}`;
    const records = new OrderRecords(documents, table);
    const { account: _a, ...legacy } = orderEvent();
    const owned = orderEvent({ account });
    await records.record([legacy, owned]);
    await new ClientOrders(documents, table).create({
      orderId: `client-${randomBytes(3).toString('hex')}`,
      account,
      clientOrderId: 'c-1',
      createdAt: Date.now(),
      status: 'PENDING',
      request: { symbol: 'AAPL', side: 'BUY', type: 'market', quantity: 1, limitPrice: null },
    });
    const page = await records.list(historyRange(account, HistoryQuerySchema.parse({})));
    expect(page.events).toEqual([owned]);
  });
});

describe('GET /orders', () => {
  const account = `acct-list-${randomBytes(3).toString('hex')}`;
  const base = Date.UTC(2026, 0, 1);
  // 7 orders, one a minute: AAPL, MSFT alternating.
  const events = Array.from({ length: 7 }, (_, i) =>
    orderEvent({
      orderId: `list-${i}`,
      account,
      symbol: i % 2 === 0 ? 'AAPL' : 'MSFT',
      commandTs: base + i * 60_000,
      tickTs: base + i * 60_000 - 5,
      executedTs: base + i * 60_000 + 5,
    }),
  );
  // Not a stand-in: GET /orders must not touch the ledger at all.
  const noLedger = async (): Promise<LedgerClient> => {
    throw new Error('GET /orders reached the ledger');
  };

  /** The api as its handler wires it; `env` as infra sets it (ORDER_HISTORY_BY_SYMBOL during an upgrade). */
  function api(env: Record<string, string> = {}) {
    const config = loadApiConfig({
      ...powertoolsEnv('api'),
      ORDERS_TABLE_NAME: table,
      RAFT_MEMBERS: 'http://127.0.0.1:9',
      RAFT_AUTH_SECRET: 'unused',
      ...env,
    });
    const handler = createApiHandler({
      members: config.RAFT_MEMBERS,
      ledger: noLedger,
      records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
      bySymbolIndex: config.ORDER_HISTORY_BY_SYMBOL,
      entries: { read: () => Promise.reject(new Error('GET /orders read an entry record')) },
      logger: createLogger(config),
    });
    type Authorizer = NonNullable<Parameters<typeof httpEvent>[2]>['authorizer'];
    return async (query: Record<string, string>, authorizer: Authorizer) => {
      const res = (await handler(
        httpEvent('GET', '/orders', { query, ...(authorizer ? { authorizer } : {}) }),
        fakeContext('api'),
      )) as APIGatewayProxyStructuredResultV2;
      return { status: res.statusCode, body: JSON.parse(res.body as string) };
    };
  }
  const trader = userClaims(account, ['trader']);

  beforeAll(async () => {
    // As execute records them (one transaction of conditional puts): the records are the history.
    await new OrderRecords(documents, table).record(events);
  });

  it('pages through the caller’s own orders, newest first, with an opaque cursor', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api()({ limit: '3', ...(cursor ? { cursor } : {}) }, trader);
      expect(page.status).toBe(200);
      seen.push(...page.body.orders.map((o: { orderId: string }) => o.orderId));
      cursor = page.body.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(['list-6', 'list-5', 'list-4', 'list-3', 'list-2', 'list-1', 'list-0']);
    const [first] = (await api()({ limit: '1' }, trader)).body.orders;
    expect(first).toEqual({
      account,
      orderId: 'list-6',
      symbol: 'AAPL',
      side: 'BUY',
      qty: 5,
      price: 100.5,
      status: 'EXECUTED', // the event's ACCEPTED, in the API's words
      reason: null,
      seq: 1,
      createdTs: events[6]!.commandTs,
      updatedTs: events[6]!.executedTs,
      correlationId: events[6]!.correlationId,
    });
  });

  it('filters by symbol (the BySymbol index) and by time (epoch ms or ISO 8601), inclusive', async () => {
    const ids = (body: { orders: { orderId: string }[] }) => body.orders.map((o) => o.orderId);
    expect(ids((await api()({ symbol: 'msft' }, trader)).body)).toEqual(['list-5', 'list-3', 'list-1']);
    const from = new Date(base + 2 * 60_000).toISOString();
    expect(ids((await api()({ from, to: String(base + 4 * 60_000) }, trader)).body)).toEqual([
      'list-4',
      'list-3',
      'list-2',
    ]);
    const both = await api()({ symbol: 'AAPL', from, limit: '1' }, trader);
    expect(ids(both.body)).toEqual(['list-6']);
    const next = await api()({ symbol: 'AAPL', from, limit: '5', cursor: both.body.nextCursor }, trader);
    expect(ids(next.body)).toEqual(['list-4', 'list-2']);
    expect(next.body.nextCursor).toBeNull();
  });

  it('refuses another account (viewer or trader), answers any for an admin, and requires one of an admin', async () => {
    const viewer = userClaims('acct-someone-else', ['viewer']);
    const refused = await api()({ account }, viewer);
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe('account: you may read only your own account (acct-someone-else)');
    // Without ?account= a user reads its own: nothing here leaks the other account.
    expect((await api()({}, viewer)).body.orders).toEqual([]);
    expect((await api()({ account }, userClaims('acct-admin', ['admin']))).body.orders).toHaveLength(7);
    expect((await api()({ account }, iamCaller())).body.orders).toHaveLength(7);
    const noAccount = await api()({}, iamCaller());
    expect(noAccount.status).toBe(400);
    expect(noAccount.body.errors).toEqual([{ field: 'account', message: expect.stringMatching(/required/) }]);
    expect((await api()({}, undefined)).status).toBe(403);
  });

  it('a tampered cursor, or one of another query, is a 400 naming the cursor', async () => {
    const { nextCursor } = (await api()({ limit: '2' }, trader)).body;
    const decoded = JSON.parse(Buffer.from(nextCursor, 'base64url').toString('utf8'));
    const tampered = Buffer.from(JSON.stringify({ ...decoded, q: 'x'.repeat(16) })).toString('base64url');
    for (const cursor of [tampered, 'not-a-cursor', `${nextCursor}x`]) {
      const res = await api()({ limit: '2', cursor }, trader);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe('cursor');
    }
    const otherQuery = await api()({ limit: '2', symbol: 'AAPL', cursor: nextCursor }, trader);
    expect(otherQuery.status).toBe(400);
    // A well-formed cursor of this query that points past `to` (made as the API makes them): refused before
    // DynamoDB would refuse the start key.
    const to = String(base + 6 * 60_000);
    const range = historyRange(account, HistoryQuerySchema.parse({ limit: '2', to }));
    const outside = encodeCursor(range, sortKey(base + 10 * 60_000, 'x'));
    const res = await api()({ limit: '2', to, cursor: outside }, trader);
    expect(res.body.errors).toEqual([{ field: 'cursor', message: 'points outside the requested range' }]);
    expect(res.status).toBe(400);
  });

  it('between the two deploys of an upgrade (no BySymbol index yet) a symbol query is a 503 naming it; the rest is served', async () => {
    const staged = api({ ORDER_HISTORY_BY_SYMBOL: 'false' });
    const bySymbol = await staged({ symbol: 'AAPL' }, trader);
    expect(bySymbol.status).toBe(503);
    expect(bySymbol.body.errors).toEqual([{ field: 'symbol', message: expect.stringMatching(/BySymbol index/) }]);
    expect((await staged({ limit: '2' }, trader)).body.orders).toHaveLength(2);
  });

  it('names every bad field', async () => {
    const res = await api()({ limit: '0', from: 'yesterday', symbol: 'a b', extra: '1' }, trader);
    expect(res.status).toBe(400);
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['extra', 'from', 'limit', 'symbol']);
    expect(res.body.message).toMatch(/limit: /);
    const reversed = await api()({ from: String(base + 1), to: String(base) }, trader);
    expect(reversed.body.errors).toEqual([{ field: 'from', message: 'must not be after to' }]);
  });
});
