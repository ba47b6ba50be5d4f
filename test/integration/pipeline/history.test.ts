import { randomBytes } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyStructuredResultV2, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createApiHandler } from '../../../functions/api/app';
import { loadApiConfig } from '../../../functions/api/config';
import { createHistoryHandler } from '../../../functions/history/app';
import { loadHistoryConfig } from '../../../functions/history/config';
import { createDocumentClient, createDynamoDbClient } from '../../../shared/aws/clients';
import { publishFifoBatch } from '../../../shared/aws/fifo-batch';
import { OrderHistoryStore } from '../../../shared/aws/order-history';
import type { OrderEvent } from '../../../shared/domain/event';
import { encodeCursor, HistoryQuerySchema, historyRange, sortKey } from '../../../shared/domain/order-history';
import type { LedgerClient } from '../../../shared/raft-client/types';
import { createLogger, createMetrics, MetricName } from '../../../shared/powertools';
import { fakeContext, httpEvent, iamCaller, userClaims } from '../../support/lambda-events';
import { captureEmf, type EmfCapture } from './support/emf';
import { powertoolsEnv } from './support/env';
import { injectFault, recordCalls } from './support/faults';
import { pipelineClients, TestResources } from './support/fixture';
import { receiveRecords, sqsEvent } from './support/sqs-event';

jest.setTimeout(60_000);

const { kinesis, dynamodb, documents, sqs, sns } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs, sns });
let table: string;
let topicArn: string;
let historyUrl: string;
let emf: EmfCapture;

beforeAll(async () => {
  let topic: { topicArn: string; queueUrls: string[] };
  [table, topic] = await Promise.all([resources.historyTable('history'), resources.fifoTopic('history-events')]);
  ({ topicArn } = topic);
  historyUrl = topic.queueUrls[0]!;
});
beforeEach(() => {
  emf = captureEmf();
});
afterEach(() => emf.stop());
afterAll(() => resources.deleteAll());

/** The history writer as its Lambda entry wires it; `store` lets a test put a fault on its client. */
function writer(store = new OrderHistoryStore(documents, table)): (event: SQSEvent) => Promise<SQSBatchResponse> {
  const config = loadHistoryConfig({
    ...powertoolsEnv('history'),
    ORDER_HISTORY_TABLE_NAME: table,
    ORDER_HISTORY_RETENTION_DAYS: '30',
  });
  const handler = createHistoryHandler({
    retentionDays: config.ORDER_HISTORY_RETENTION_DAYS,
    store,
    logger: createLogger(config),
    metrics: createMetrics(config),
  });
  return (event) => handler(event, fakeContext('history')) as Promise<SQSBatchResponse>;
}

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

/**
 * Publishes events through the real topic (group = symbol; dedup id = orderId plus status and time, so a status
 * update of an order is a message of its own) and receives them from the history subscription as the mapping would.
 */
async function throughTopic(events: OrderEvent[]): Promise<SQSRecord[]> {
  const { failed } = await publishFifoBatch(
    sns,
    topicArn,
    events.map((e) => ({
      body: JSON.stringify(e),
      groupId: e.symbol,
      deduplicationId: `${e.orderId}:${e.status}:${e.executedTs}`,
    })),
  );
  expect(failed).toEqual([]);
  const records: SQSRecord[] = [];
  while (records.length < events.length) {
    const got = await receiveRecords(sqs, historyUrl);
    if (got.length === 0) throw new Error(`received ${records.length} of ${events.length} events`);
    records.push(...got);
  }
  return records;
}

async function stored(event: OrderEvent) {
  const { Item } = await documents.send(
    new GetCommand({ TableName: table, Key: { account: event.account, sk: sortKey(event.commandTs, event.orderId) } }),
  );
  return Item;
}

describe('history writer', () => {
  it('writes one item per order, with its keys, fields and TTL', async () => {
    const event = orderEvent();
    expect((await writer()(sqsEvent(...(await throughTopic([event]))))).batchItemFailures).toEqual([]);
    expect(await stored(event)).toMatchObject({
      account: event.account,
      accountSymbol: `${event.account}#AAPL`,
      orderId: event.orderId,
      symbol: 'AAPL',
      side: 'BUY',
      qty: 5,
      price: 100.5,
      status: 'ACCEPTED',
      seq: 1,
      reason: null,
      createdTs: event.commandTs,
      updatedTs: event.executedTs,
      expiration: Math.floor(event.commandTs / 1000) + 30 * 86_400,
    });
    expect(emf.total(MetricName.HistoryWritten)).toBe(1);
  });

  it('a redelivered batch changes nothing', async () => {
    const events = [orderEvent(), orderEvent({ symbol: 'MSFT' })];
    const records = await throughTopic(events);
    expect((await writer()(sqsEvent(...records))).batchItemFailures).toEqual([]);
    const first = await Promise.all(events.map(stored));
    expect((await writer()(sqsEvent(...records))).batchItemFailures).toEqual([]);
    expect(await Promise.all(events.map(stored))).toEqual(first);
    expect(emf.total(MetricName.HistoryWritten)).toBe(2);
    expect(emf.total(MetricName.HistoryUnchanged)).toBe(2);
  });

  it('out of order: a final status is never left, and an older update never overwrites a newer one', async () => {
    const accepted = orderEvent();
    const rejected = {
      ...accepted,
      status: 'REJECTED' as const,
      seq: null,
      reason: 'risk limit',
      executedTs: accepted.executedTs - 5,
    };
    // The final status arrives first (another group, a retry), the non-final one after it — though newer: the
    // final one stays.
    expect((await writer()(sqsEvent(...(await throughTopic([rejected]))))).batchItemFailures).toEqual([]);
    expect((await writer()(sqsEvent(...(await throughTopic([accepted]))))).batchItemFailures).toEqual([]);
    expect(await stored(accepted)).toMatchObject({ status: 'REJECTED', reason: 'risk limit' });

    const newer = orderEvent({ executedTs: Date.now() });
    const older = { ...newer, seq: 99, executedTs: newer.executedTs - 1_000 };
    expect((await writer()(sqsEvent(...(await throughTopic([newer]))))).batchItemFailures).toEqual([]);
    expect((await writer()(sqsEvent(...(await throughTopic([older]))))).batchItemFailures).toEqual([]);
    expect(await stored(newer)).toMatchObject({ seq: newer.seq, updatedTs: newer.executedTs });
  });

  it('a failed write fails its message and the rest of its group; other groups are written', async () => {
    const a1 = orderEvent({ symbol: 'AAA' });
    const a2 = orderEvent({ symbol: 'AAA' });
    const b = orderEvent({ symbol: 'BBB' });
    const records = await throughTopic([a1, a2, b]);
    const faulty = createDynamoDbClient();
    const calls = recordCalls(faulty);
    // The batch's transaction holds a1, so it fails as a whole; the writer falls back to one put per event, where
    // a1's put fails again and b's goes through.
    injectFault(
      faulty,
      (name, input) =>
        ['TransactWriteItemsCommand', 'PutItemCommand'].includes(name) && JSON.stringify(input).includes(a1.orderId),
    );
    const response = await writer(new OrderHistoryStore(createDocumentClient(faulty), table))(sqsEvent(...records));
    const byOrder = new Map(records.map((r) => [(JSON.parse(r.body) as OrderEvent).orderId, r.messageId]));
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: byOrder.get(a1.orderId) },
      { itemIdentifier: byOrder.get(a2.orderId) },
    ]);
    expect(await stored(b)).toBeDefined();
    expect(await stored(a2)).toBeUndefined();
    expect(calls).toEqual(['TransactWriteItemsCommand', 'PutItemCommand', 'PutItemCommand']);
    // The redelivery of what failed writes it.
    const retry = records.filter((r) => r.messageId !== byOrder.get(b.orderId));
    expect((await writer()(sqsEvent(...retry))).batchItemFailures).toEqual([]);
    expect(await stored(a1)).toBeDefined();
    expect(await stored(a2)).toBeDefined();
  });

  it('a batch mixing new and recorded events: one call for the batch, a second without the recorded ones', async () => {
    const recorded = [orderEvent({ symbol: 'DDD' }), orderEvent({ symbol: 'EEE' })];
    const first = await throughTopic(recorded);
    expect((await writer()(sqsEvent(...first))).batchItemFailures).toEqual([]);
    // The same order twice in one batch (a transaction takes an item once): the final status stands.
    const fresh = orderEvent({ symbol: 'DDD' });
    const filled = { ...fresh, status: 'CANCELED' as const, executedTs: fresh.executedTs + 1 };
    const fresh2 = orderEvent({ symbol: 'EEE' });
    const later = await throughTopic([fresh, filled, fresh2]);
    const client = createDynamoDbClient();
    const calls = recordCalls(client);
    const store = new OrderHistoryStore(createDocumentClient(client), table);
    // The redelivered records go first in their groups, as after a partial failure.
    const mixed = sqsEvent(first[0]!, ...later.slice(0, 2), first[1]!, later[2]!);
    expect((await writer(store)(mixed)).batchItemFailures).toEqual([]);
    expect(calls).toEqual(['TransactWriteItemsCommand', 'TransactWriteItemsCommand']);
    expect(await stored(fresh)).toMatchObject({ status: 'CANCELED', updatedTs: filled.executedTs });
    expect(await stored(fresh2)).toMatchObject({ status: 'ACCEPTED' });
    expect(emf.total(MetricName.HistoryWritten)).toBe(2 + 2);
    expect(emf.total(MetricName.HistoryUnchanged)).toBe(3);
    // A batch of recorded events only: one call, nothing written.
    calls.length = 0;
    expect((await writer(store)(sqsEvent(...later))).batchItemFailures).toEqual([]);
    expect(calls).toEqual(['TransactWriteItemsCommand']);
  });

  it('a transaction cancelled for another reason than a condition is tried again and written', async () => {
    const events = [orderEvent({ symbol: 'FFF' }), orderEvent({ symbol: 'GGG' })];
    const records = await throughTopic(events);
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
    const store = new OrderHistoryStore(createDocumentClient(client), table, () => Promise.resolve());
    expect((await writer(store)(sqsEvent(...records))).batchItemFailures).toEqual([]);
    expect(calls).toEqual(['TransactWriteItemsCommand', 'TransactWriteItemsCommand']);
    for (const e of events) expect(await stored(e)).toMatchObject({ orderId: e.orderId });
    expect(emf.total(MetricName.HistoryWritten)).toBe(2);
  });

  it('a message that is not an order event is reported failed (for the DLQ by redrive), with the reason logged', async () => {
    const good = orderEvent({ symbol: 'CCC' });
    const [record] = await throughTopic([good]);
    const poison = { ...record!, messageId: 'poison-1', body: '{"orderId":"x"}' };
    const response = await writer()(sqsEvent(poison));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'poison-1' }]);
    expect((await writer()(sqsEvent(record!))).batchItemFailures).toEqual([]);
  });

  it('a poison message in a batch fails with the rest of its group only; the events before it are written', async () => {
    const [h1, h2, i1] = [orderEvent({ symbol: 'HHH' }), orderEvent({ symbol: 'HHH' }), orderEvent({ symbol: 'III' })];
    const [r1, r2, r3] = await throughTopic([h1, h2, i1]);
    const poison = { ...r1!, messageId: 'poison-2', body: 'not json' };
    const response = await writer()(sqsEvent(r1!, poison, r2!, r3!));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'poison-2' }, { itemIdentifier: r2!.messageId }]);
    expect(await stored(h1)).toBeDefined();
    expect(await stored(h2)).toBeUndefined();
    expect(await stored(i1)).toBeDefined();
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

  function api() {
    const config = loadApiConfig({
      ...powertoolsEnv('api'),
      ORDERS_TABLE_NAME: 'unused-orders',
      ORDER_HISTORY_TABLE_NAME: table,
      RAFT_MEMBERS: 'http://127.0.0.1:9',
      RAFT_AUTH_SECRET: 'unused',
    });
    const handler = createApiHandler({
      members: config.RAFT_MEMBERS,
      ledger: noLedger,
      records: { read: () => Promise.reject(new Error('GET /orders read an execution record')) },
      entries: { read: () => Promise.reject(new Error('GET /orders read an entry record')) },
      history: new OrderHistoryStore(documents, table),
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
    expect((await writer()(sqsEvent(...(await throughTopic(events))))).batchItemFailures).toEqual([]);
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
