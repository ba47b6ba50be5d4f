import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient, createDynamoDbClient } from '../../../shared/aws/clients';
import {
  candleSeries,
  MarketDataReader,
  MAX_TICKS_PER_SLICE,
  type StorableTick,
} from '../../../shared/aws/market-data-store';
import { CANDLE_INTERVALS, candlesOf, type CandleInterval } from '../../../shared/domain/candle';
import type { TickRecord } from '../../../shared/domain/tick';
import { MetricName } from '../../../shared/powertools';
import { captureEmf, type EmfCapture } from './support/emf';
import { injectFault, recordCalls } from './support/faults';
import { marketDataHandler, pipelineClients, streamTickRecords, TestResources } from './support/fixture';

const { kinesis, dynamodb, documents, sqs } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs });
const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
let streamName: string;
let tables: { ticks: string; candles: string };
let emf: EmfCapture;

beforeAll(async () => {
  streamName = await resources.stream('md-ticks', 2);
});
afterAll(async () => {
  await resources.deleteAll();
  kinesis.destroy();
  dynamodb.destroy();
  sqs.destroy();
});
beforeEach(async () => {
  // Fresh tables per test, so each one sees only its own ticks.
  tables = await resources.marketDataTables();
  emf = captureEmf();
});
afterEach(() => emf.stop());

let counter = 0;
const tick = (symbol: string, ts: number, price: number, size = 1): TickRecord => ({
  tick: { symbol, ts, price, size, tickId: `${symbol}-${counter++}` },
  correlationId: `c-${counter}`,
  ingestedAt: Date.now(),
});

const streamed = (records: TickRecord[]) => streamTickRecords(kinesis, streamName, records);

/** A symbol's stored ticks, read as GET /ticks reads them (the product's reader, every slice, one page). */
async function storedTicks(symbol: string) {
  const reader = new MarketDataReader(documents, tables);
  return (await reader.queryTicks({ symbol, from: 0, to: 2 ** 45, limit: 100_000 })).items;
}

async function storedCandles(symbol: string, interval: CandleInterval) {
  const out = await documents.send(
    new QueryCommand({
      TableName: tables.candles,
      KeyConditionExpression: 'series = :s',
      ExpressionAttributeValues: { ':s': candleSeries(symbol, interval) },
      ConsistentRead: true,
    }),
  );
  return (out.Items ?? []).map((i) => ({
    start: i.start as number,
    open: { ts: i.openTs as number, tickId: i.openTickId as string, price: i.open as number },
    close: { ts: i.closeTs as number, tickId: i.closeTickId as string, price: i.close as number },
    high: i.high as number,
    low: i.low as number,
    volume: i.volume as string,
    count: i.count as number,
  }));
}

/** What the candles of `records` must be: the pure math over all of them at once (property-tested in unit). */
function expectedCandles(records: TickRecord[], symbol: string, interval: CandleInterval) {
  const ticks: StorableTick[] = records
    .filter((r) => r.tick.symbol === symbol)
    .map((r) => ({ ...r.tick, ingestedAt: r.ingestedAt }));
  return [...candlesOf(ticks, interval).values()].sort((a, b) => a.start - b.start);
}

async function expectCandlesOf(records: TickRecord[], symbols: string[]) {
  for (const symbol of symbols) {
    for (const interval of CANDLE_INTERVALS) {
      expect(await storedCandles(symbol, interval)).toEqual(expectedCandles(records, symbol, interval));
    }
  }
}

describe('market-data (second consumer of the tick stream) on kinesalite + DynamoDB Local', () => {
  it('stores every tick from the stream and builds its 1m, 5m and 1h candles', async () => {
    const handler = marketDataHandler(documents, tables);
    // Across a minute, a 5-minute and an hour boundary, two symbols on two shards.
    const records = [
      tick('ACME', T0 + 59_000, 10, 2),
      tick('ACME', T0 + 61_000, 12, 0.5),
      tick('ACME', T0 + 299_000, 9, 1.5),
      tick('ACME', T0 + 3_600_000, 11, 1),
      tick('BRK.B', T0 + 1_000, 400, 0.1),
      tick('BRK.B', T0 + 2_000, 401, 0.2),
    ];
    expect(await handler(await streamed(records))).toEqual({ batchItemFailures: [] });

    expect((await storedTicks('ACME')).map((t) => [t.ts, t.price, t.size])).toEqual([
      [T0 + 59_000, 10, 2],
      [T0 + 61_000, 12, 0.5],
      [T0 + 299_000, 9, 1.5],
      [T0 + 3_600_000, 11, 1],
    ]);
    // Checked by hand once, the rest against the pure math.
    expect((await storedCandles('ACME', '5m'))[0]).toMatchObject({
      start: T0,
      open: { price: 10 },
      close: { price: 9 },
      high: 12,
      low: 9,
      volume: '4',
      count: 3,
    });
    expect((await storedCandles('BRK.B', '1h'))[0]).toMatchObject({ volume: '0.3', count: 2 });
    await expectCandlesOf(records, ['ACME', 'BRK.B']);
    expect(emf.total(MetricName.TicksStored)).toBe(6);
  });

  it('gives the same ticks and candles when the same batch is delivered twice, or re-read in parts', async () => {
    const handler = marketDataHandler(documents, tables);
    const records = Array.from({ length: 30 }, (_, i) => tick(i % 2 ? 'ACME' : 'ZED', T0 + i * 7_000, 100 + i, 1.1));
    const event = await streamed(records);
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    const ticksAfterFirst = await storedTicks('ACME');

    // The whole batch again (a retried invocation), then its second half (a bisected retry), then the first.
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    expect(await handler({ Records: event.Records.slice(15) })).toEqual({ batchItemFailures: [] });
    expect(await handler({ Records: event.Records.slice(0, 15) })).toEqual({ batchItemFailures: [] });

    expect(await storedTicks('ACME')).toEqual(ticksAfterFirst);
    await expectCandlesOf(records, ['ACME', 'ZED']);
    expect(emf.total(MetricName.TicksStored)).toBe(30);
    expect(emf.total(MetricName.TicksAlreadyStored)).toBe(60);
  });

  it('a tick ingested twice (same tickId, two stream records) counts once', async () => {
    const handler = marketDataHandler(documents, tables);
    const once = tick('ACME', T0 + 5_000, 50, 3);
    const other = tick('ACME', T0 + 6_000, 51, 1);
    expect(await handler(await streamed([once, other, { ...once, correlationId: 'retry' }]))).toEqual({
      batchItemFailures: [],
    });
    expect(await storedCandles('ACME', '1m')).toEqual(expectedCandles([once, other], 'ACME', '1m'));
    expect((await storedCandles('ACME', '1m'))[0]?.volume).toBe('4');
  });

  it('orders a bucket by tick time, not arrival: late ticks in later batches move open and close right', async () => {
    const handler = marketDataHandler(documents, tables);
    const middle = tick('ACME', T0 + 30_000, 20);
    const late = tick('ACME', T0 + 50_000, 25);
    const early = tick('ACME', T0 + 10_000, 15);
    const earliest = tick('ACME', T0 + 1, 30);
    // Arrival: middle, late | early | earliest — three batches, the earliest ticks last.
    await handler(await streamed([middle, late]));
    await handler(await streamed([early]));
    await handler(await streamed([earliest]));
    const [candle] = await storedCandles('ACME', '1m');
    expect(candle).toMatchObject({ open: { ts: T0 + 1, price: 30 }, close: { ts: T0 + 50_000, price: 25 } });
    expect(candle).toMatchObject({ high: 30, low: 15, count: 4 });
    await expectCandlesOf([middle, late, early, earliest], ['ACME']);
  });

  it('skips a poison record with a metric and stores the rest, without failing the batch', async () => {
    const handler = marketDataHandler(documents, tables);
    const good = tick('ACME', T0, 10);
    const event = await streamed([good]);
    const poison = {
      ...event.Records[0]!,
      kinesis: {
        ...event.Records[0]!.kinesis,
        sequenceNumber: '1',
        data: Buffer.from('{"not":"a tick"}').toString('base64'),
      },
    };
    expect(await handler({ Records: [poison, ...event.Records] })).toEqual({ batchItemFailures: [] });
    expect(await storedTicks('ACME')).toHaveLength(1);
    expect(emf.total(MetricName.PoisonRecords)).toBe(1);
  });

  it('skips the ticks that would overfill a slice with a metric instead of failing: no retry could store them', async () => {
    const handler = marketDataHandler(documents, tables);
    const crowd = Array.from({ length: MAX_TICKS_PER_SLICE + 1 }, (_, i) => tick('FULL', T0 + (i % 200), 10));
    const other = tick('OKAY', T0, 11);
    const event = await streamed([...crowd, other]);
    // A failure would be retried until the record age limit, holding this consumer's shard for an hour.
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    expect(emf.total(MetricName.TicksNotStored)).toBe(crowd.length);
    expect(await storedTicks('FULL')).toEqual([]);
    expect(await storedTicks('OKAY')).toHaveLength(1);
  });

  it('reports only the failing symbol’s records when DynamoDB fails for it; the redelivery completes it', async () => {
    // A fault injected into a real client (its own, as one container's), for the failure the emulator cannot
    // produce on demand: ZED's transaction fails, ACME's goes through. Marshalled or not, the input names ZED.
    const flakyDynamoDb = createDynamoDbClient();
    const flaky = createDocumentClient(flakyDynamoDb);
    const heal = injectFault(
      flaky,
      (command, input) => command.startsWith('TransactWrite') && JSON.stringify(input).includes('"ZED"'),
    );
    const handler = marketDataHandler(flaky, tables);
    const records = [tick('ACME', T0, 10), tick('ZED', T0, 5), tick('ZED', T0 + 1, 6)];
    const event = await streamed(records);
    const zedSequenceNumbers = event.Records.filter((r) => r.kinesis.partitionKey === 'ZED').map(
      (r) => r.kinesis.sequenceNumber,
    );
    const first = await handler(event);
    heal();
    expect(first.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([...zedSequenceNumbers].sort());
    expect(await storedTicks('ZED')).toEqual([]);
    // Lambda redelivers from the lowest failed record: here, the whole batch.
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    flakyDynamoDb.destroy();
    await expectCandlesOf(records, ['ACME', 'ZED']);
  });

  it('pages through ticks that share a slice item in time order, a page at a time, each tick once', async () => {
    const handler = marketDataHandler(documents, tables);
    // 10 ticks within 90 ms (one 250 ms slice, in two batches, the second redelivering two of the first) and one
    // tick later in its own slice.
    const dense = Array.from({ length: 10 }, (_, i) => tick('DENSE', T0 + 90 - i * 10, 50 + i, 1));
    const later = tick('DENSE', T0 + 5_000, 70, 1);
    expect(await handler(await streamed(dense.slice(0, 6)))).toEqual({ batchItemFailures: [] });
    expect(await handler(await streamed([...dense.slice(4), later]))).toEqual({ batchItemFailures: [] });
    const reader = new MarketDataReader(documents, tables);
    const pages: number[][] = [];
    let after: string | undefined;
    do {
      const page = await reader.queryTicks({ symbol: 'DENSE', from: T0, to: T0 + 10_000, limit: 3, after });
      pages.push(page.items.map((t) => t.ts));
      after = page.last;
    } while (after);
    expect(pages).toEqual([
      [T0, T0 + 10, T0 + 20],
      [T0 + 30, T0 + 40, T0 + 50],
      [T0 + 60, T0 + 70, T0 + 80],
      [T0 + 90, T0 + 5_000],
    ]);
    // [from, to) holds within a slice too.
    const window = await reader.queryTicks({ symbol: 'DENSE', from: T0 + 25, to: T0 + 55, limit: 100 });
    expect(window.items.map((t) => t.ts)).toEqual([T0 + 30, T0 + 40, T0 + 50]);
    expect(window.last).toBeUndefined();
    expect(emf.total(MetricName.TicksStored)).toBe(11);
    expect(emf.total(MetricName.TicksAlreadyStored)).toBe(2);
  });

  it('reads and extends slices in the formats written before (a list of maps; one tick per item), packing them', async () => {
    const handler = marketDataHandler(documents, tables);
    const expiresAt = Math.floor(Date.now() / 1000) + 86_400;
    const old = { tickId: 'OLD-1', ts: T0 + 10, price: 5, size: 2 };
    await documents.send(
      new PutCommand({
        TableName: tables.ticks,
        Item: { symbol: 'OLD', sk: String(T0).padStart(13, '0'), ticks: [old], version: 1, expiresAt },
      }),
    );
    const single = { tickId: 'OLD-2', ts: T0 + 1_000, price: 6, size: 1 };
    await documents.send(
      new PutCommand({
        TableName: tables.ticks,
        Item: { symbol: 'OLD', sk: `${T0 + 1_000}#OLD-2`, ...single, expiresAt },
      }),
    );
    const fresh = tick('OLD', T0 + 20, 7, 3);
    expect(await handler(await streamed([fresh]))).toEqual({ batchItemFailures: [] });
    const { tickId, ts, price, size } = fresh.tick;
    expect(await storedTicks('OLD')).toEqual([old, { tickId, ts, price, size }, single]);
    const { Item } = await documents.send(
      new GetCommand({ TableName: tables.ticks, Key: { symbol: 'OLD', sk: String(T0).padStart(13, '0') } }),
    );
    expect(Item).toMatchObject({
      version: 2,
      packed: JSON.stringify([
        [old.tickId, old.ts, 5, 2],
        [tickId, ts, 7, 3],
      ]),
    });
    expect(Item!.ticks).toBeUndefined();
  });

  it('two writers racing over the same slices and candles (a timed-out invocation still running): each tick once', async () => {
    const handler = marketDataHandler(documents, tables);
    const records = Array.from({ length: 40 }, (_, i) => tick('RACE', T0 + i * 37, 10 + (i % 7), 1));
    const [a, b, c] = await Promise.all([
      streamed(records.slice(0, 25)),
      streamed(records.slice(15)),
      streamed(records.slice(5, 35)),
    ]);
    const results = await Promise.all([handler(a), handler(b), handler(c)]);
    // A writer that lost every retry reports its records; their redelivery completes them.
    for (const [i, r] of results.entries())
      if (r.batchItemFailures.length > 0) expect(await handler([a, b, c][i]!)).toEqual({ batchItemFailures: [] });
    expect((await storedTicks('RACE')).map((t) => t.ts)).toEqual(records.map((r) => r.tick.ts));
    expect(await storedCandles('RACE', '1m')).toEqual(expectedCandles(records, 'RACE', '1m'));
  });

  it('cost: a batch of 100 ticks of 8 symbols, in DynamoDB calls and ms per tick', async () => {
    const handler = marketDataHandler(documents, tables);
    const symbols = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8'];
    const records = Array.from({ length: 100 }, (_, i) => tick(symbols[i % 8]!, T0 + i * 500, 100 + (i % 13), 1));
    const event = await streamed(records);
    const calls = recordCalls(documents);
    const started = performance.now();
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    const firstMs = performance.now() - started;
    const firstCalls = calls.splice(0).length;
    const againStarted = performance.now();
    expect(await handler(event)).toEqual({ batchItemFailures: [] });
    const againMs = performance.now() - againStarted;
    const againCalls = calls.splice(0).length;
    await expectCandlesOf(records, symbols);
    process.stderr.write(
      `market-data cost, 100 ticks of 8 symbols: first delivery ${firstCalls} DynamoDB calls ` +
        `(${(firstCalls / 100).toFixed(2)}/tick), ${firstMs.toFixed(0)} ms (${(firstMs / 100).toFixed(2)} ms/tick); ` +
        `redelivery ${againCalls} calls, ${againMs.toFixed(0)} ms\n`,
    );
    // One BatchGetItem (slices and candles) and one TransactWriteItems per symbol. On redelivery the read finds
    // every tick in its slice, so nothing is written: one call per symbol.
    expect(firstCalls).toBe(2 * symbols.length);
    expect(againCalls).toBe(symbols.length);
  });
});
