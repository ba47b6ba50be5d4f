import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { TickRecord } from '../../../shared/domain/tick';
import { iamCaller, httpEvent, userClaims } from '../../support/lambda-events';
import {
  marketDataApiHandler,
  marketDataHandler,
  pipelineClients,
  streamTickRecords,
  TestResources,
} from './support/fixture';

const { kinesis, dynamodb, documents, sqs } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs });
const DAY = 86_400_000;
// Yesterday, on the hour: candles expire counted from their bucket's start, so the data must be recent.
const T0 = Math.floor((Date.now() - DAY) / 3_600_000) * 3_600_000;
let api: ReturnType<typeof marketDataApiHandler>;

const viewer = userClaims('A1', ['viewer']);
/** `authorizer` null: the event carries no authorizer result. */
const get = async (path: string, query: Record<string, string>, authorizer: object | null = viewer) => {
  const res: APIGatewayProxyStructuredResultV2 = await api(
    httpEvent('GET', path, { query, ...(authorizer ? { authorizer: authorizer as never } : {}) }),
  );
  return { status: res.statusCode, body: JSON.parse(res.body ?? 'null') as Record<string, unknown> };
};

/** Follows nextCursor until it is null, collecting `key` of every page. */
async function allPages(path: string, query: Record<string, string>, key: 'ticks' | 'candles') {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const { status, body } = await get(path, cursor ? { ...query, cursor } : query);
    expect(status).toBe(200);
    items.push(...(body[key] as Record<string, unknown>[]));
    cursor = body.nextCursor as string | null;
    pages++;
  } while (cursor);
  return { items, pages };
}

const ticks: TickRecord[] = [];
beforeAll(async () => {
  const streamName = await resources.stream('mdapi-ticks');
  const tables = await resources.marketDataTables();
  api = marketDataApiHandler(documents, tables);
  const record = (symbol: string, ts: number, price: number, ingestedAt = Date.now()): TickRecord => ({
    tick: { symbol, ts, price, size: 2, tickId: `${symbol}-${ts}` },
    correlationId: `c-${symbol}-${ts}`,
    ingestedAt,
  });
  // ACME: one tick every 20 s for 10 minutes (30 ticks, ten 1m candles, two 5m, one 1h); OTHER: a few.
  for (let i = 0; i < 30; i++) ticks.push(record('ACME', T0 + i * 20_000, 100 + i));
  ticks.push(record('OTHER', T0 + 1_000, 7), record('OTHER', T0 + 2_000, 8));
  // Ingested 8 days ago with a 7-day retention: past its TTL, not yet deleted (TTL runs within days).
  ticks.push(record('ACME', T0 + 599_999, 1, Date.now() - 8 * DAY));
  const consume = marketDataHandler(documents, tables);
  expect(await consume(await streamTickRecords(kinesis, streamName, ticks))).toEqual({ batchItemFailures: [] });
});
afterAll(async () => {
  await resources.deleteAll();
  kinesis.destroy();
  dynamodb.destroy();
  sqs.destroy();
});

describe('GET /ticks and GET /candles on DynamoDB Local', () => {
  it('pages through one symbol’s ticks in time order, within [from, to), without the expired one', async () => {
    const query = { symbol: 'acme', from: String(T0 + 20_000), to: String(T0 + 600_000), limit: '7' };
    const { items, pages } = await allPages('/ticks', query, 'ticks');
    expect(items.map((t) => t.ts)).toEqual(Array.from({ length: 29 }, (_, i) => T0 + (i + 1) * 20_000));
    expect(items[0]).toEqual({ tickId: `ACME-${T0 + 20_000}`, ts: T0 + 20_000, price: 101, size: 2 });
    expect(pages).toBeGreaterThanOrEqual(5);
    const first = await get('/ticks', query);
    expect(first.body).toMatchObject({ symbol: 'ACME', from: T0 + 20_000, to: T0 + 600_000 });
  });

  it('serves the candles of each interval, paginated, as the stored math made them', async () => {
    const range = { symbol: 'ACME', from: String(T0), to: String(T0 + 3_600_000) };
    const minutes = await allPages('/candles', { ...range, interval: '1m', limit: '4' }, 'candles');
    expect(minutes.items.map((c) => c.start)).toEqual(Array.from({ length: 10 }, (_, i) => T0 + i * 60_000));
    expect(minutes.items[1]).toEqual({
      start: T0 + 60_000,
      open: 103,
      high: 105,
      low: 103,
      close: 105,
      volume: 6,
      count: 3,
      openTs: T0 + 60_000,
      closeTs: T0 + 100_000,
    });
    const hour = await get('/candles', { ...range, interval: '1h' });
    // The candle keeps the tick whose own item has expired: candles outlive the ticks they were built from.
    expect(hour.body.candles).toEqual([
      expect.objectContaining({ start: T0, open: 100, close: 1, high: 129, low: 1, count: 31, volume: 62 }),
    ]);
    expect(hour.body.nextCursor).toBeNull();
    const fives = await get('/candles', { ...range, interval: '5m' });
    expect((fives.body.candles as { count: number }[]).map((c) => c.count)).toEqual([15, 16]);
  });

  it('reads for every role and for IAM callers; refuses a caller without a principal or without a role', async () => {
    const query = { symbol: 'OTHER', from: String(T0), to: String(T0 + 60_000) };
    for (const authorizer of [userClaims('A2', ['trader']), userClaims('A3', ['admin']), iamCaller()]) {
      const { status, body } = await get('/ticks', query, authorizer);
      expect(status).toBe(200);
      expect((body.ticks as unknown[]).length).toBe(2);
    }
    expect(await get('/ticks', query, null)).toEqual({
      status: 403,
      body: { message: 'the request carries no authorizer result' },
    });
    expect((await get('/ticks', query, userClaims('A4', []))).status).toBe(403);
  });

  it('answers 400 with the fields at fault, and 404 for another route', async () => {
    const bad = await get('/candles', { symbol: 'ACME', from: 'yesterday', to: String(T0), interval: '2m' });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      message: 'invalid query',
      errors: [
        { field: 'from', message: 'must be epoch milliseconds or an ISO 8601 date-time' },
        { field: 'interval', message: 'must be one of 1m, 5m, 1h' },
      ],
    });
    const first = await get('/ticks', { symbol: 'ACME', from: String(T0), to: String(T0 + DAY), limit: '1' });
    const foreign = await get('/ticks', {
      symbol: 'OTHER',
      from: String(T0),
      to: String(T0 + DAY),
      cursor: first.body.nextCursor as string,
    });
    expect(foreign).toEqual({
      status: 400,
      body: {
        message: 'invalid query',
        errors: [{ field: 'cursor', message: 'belongs to another query (symbol, interval, from, to)' }],
      },
    });
    expect((await get('/orders', {})).status).toBe(404);
  });
});
