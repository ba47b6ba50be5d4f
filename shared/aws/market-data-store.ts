import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  QueryCommand,
  TransactWriteCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import {
  bucketStart,
  CANDLE_INTERVALS,
  candlesOf,
  mergeCandles,
  type Candle,
  type CandleInterval,
  type CandleTick,
} from '../domain/candle';
import { sleep as defaultSleep } from '../util/wait';

/**
 * The market-data tables, the one home of their keys and item shapes (market-data writes, market-data-api reads).
 *
 * TicksTable: `symbol` (hash) + `sk` = `<ts, 13 digits>#<tickId>` (range), so a time range of one symbol is one
 * Query in time order. CandlesTable: `series` = `<symbol>#<interval>` (hash) + `start` (bucket start, epoch ms,
 * range). Both carry `expiresAt` (epoch seconds), the TTL attribute.
 *
 * Exactly-once: the ticks of one symbol's batch and the candles they touch are written by ONE TransactWriteItems —
 * each tick a put conditional on `attribute_not_exists(sk)`, each candle a put conditional on the version read
 * before. A redelivered tick fails its condition, the whole transaction is cancelled, and it is retried without the
 * ticks that are already stored: their volume was added by the transaction that stored them, never twice. A crash
 * between read and write changes nothing; a concurrent writer (a timed-out invocation still running) moves a
 * candle's version, and the retry re-reads it. docs/architecture.md argues this against recomputing candles.
 */
export const TICK_SK_DIGITS = 13;
/** TransactWriteItems takes at most 100 items (ticks + the candles they touch). */
const TRANSACTION_LIMIT = 100;
const CONFLICT_ATTEMPTS = 5;

export interface MarketDataTables {
  ticks: string;
  candles: string;
}

/** How long items live, in days, counted from ingest (ticks) or from the bucket's start (candles). */
export interface MarketDataRetention {
  ticksDays: number;
  candleDays: Record<CandleInterval, number>;
}

export type StorableTick = CandleTick & { ingestedAt: number };

export interface StoredTick {
  tickId: string;
  ts: number;
  price: number;
  size: number;
}

export interface StoredCandle extends Candle {
  interval: CandleInterval;
}

export interface RecordOutcome {
  /** Ticks stored (and counted into their candles) by this call. */
  stored: number;
  /** Ticks already stored before, by an earlier delivery, or twice in this batch: counted once, not again. */
  duplicates: number;
  /** DynamoDB calls made, for the cost figures in docs/performance.md. */
  calls: number;
}

export const tickSortKey = (ts: number, tickId: string) => `${String(ts).padStart(TICK_SK_DIGITS, '0')}#${tickId}`;
export const candleSeries = (symbol: string, interval: CandleInterval) => `${symbol}#${interval}`;
const DAY_SECONDS = 86_400;

type CandleKey = `${CandleInterval}@${number}`;
const candleKey = (interval: CandleInterval, start: number): CandleKey => `${interval}@${start}`;
type Versioned = { candle: Candle; version: number };

export class MarketDataStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: MarketDataTables,
    private readonly retention: MarketDataRetention,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {}

  /** Stores one symbol's ticks and folds them into its candles, each tick exactly once (see the class comment). */
  async record(symbol: string, ticks: readonly StorableTick[]): Promise<RecordOutcome> {
    const unique = [...new Map(ticks.map((t) => [tickSortKey(t.ts, t.tickId), t])).values()];
    const outcome: RecordOutcome = { stored: 0, duplicates: ticks.length - unique.length, calls: 0 };
    for (const chunk of transactionChunks(unique)) {
      const part = await this.recordChunk(symbol, chunk);
      outcome.stored += part.stored;
      outcome.duplicates += part.duplicates;
      outcome.calls += part.calls;
    }
    return outcome;
  }

  private async recordChunk(symbol: string, ticks: StorableTick[]): Promise<RecordOutcome> {
    const outcome: RecordOutcome = { stored: 0, duplicates: 0, calls: 0 };
    let pending = ticks;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const additions = CANDLE_INTERVALS.flatMap((interval) =>
        [...candlesOf(pending, interval).values()].map((candle) => ({ interval, candle })),
      );
      const stored = await this.readCandles(symbol, additions);
      const reasons = await this.tryWrite(symbol, pending, additions, stored);
      outcome.calls += 2;
      if (reasons === undefined) {
        outcome.stored += pending.length;
        return outcome;
      }
      const tickReasons = reasons.slice(0, pending.length);
      const candleReasons = reasons.slice(pending.length);
      const already = tickReasons.filter((r) => r === 'ConditionalCheckFailed').length;
      outcome.duplicates += already;
      pending = pending.filter((_, i) => tickReasons[i] !== 'ConditionalCheckFailed');
      // Only stored ticks refused: retry at once without them. Anything else (a candle moved under us, a
      // transaction conflict): back off, re-read, retry — a bounded number of times, then the batch is redelivered.
      if (already > 0 && candleReasons.every((r) => r === 'None')) continue;
      if (attempt >= CONFLICT_ATTEMPTS) throw new Error(`market data of ${symbol} not written: ${reasons.join(', ')}`);
      await this.sleep(20 * 2 ** attempt + Math.random() * 20);
    }
    return outcome;
  }

  /** The stored candles the additions fall into (consistent reads), with their versions. */
  private async readCandles(
    symbol: string,
    additions: { interval: CandleInterval; candle: Candle }[],
  ): Promise<Map<CandleKey, Versioned>> {
    const found = new Map<CandleKey, Versioned>();
    let keys: Record<string, unknown>[] | undefined = additions.map(({ interval, candle }) => ({
      series: candleSeries(symbol, interval),
      start: candle.start,
    }));
    while (keys && keys.length > 0) {
      const out: BatchGetCommandOutput = await this.doc.send(
        new BatchGetCommand({ RequestItems: { [this.tables.candles]: { Keys: keys, ConsistentRead: true } } }),
      );
      for (const item of out.Responses?.[this.tables.candles] ?? []) {
        const candle = candleFromItem(item);
        found.set(candleKey(candle.interval, candle.start), { candle, version: Number(item.version) });
      }
      keys = out.UnprocessedKeys?.[this.tables.candles]?.Keys;
    }
    return found;
  }

  /** One TransactWriteItems; undefined when written, else each item's cancellation reason (ticks first). */
  private async tryWrite(
    symbol: string,
    ticks: StorableTick[],
    additions: { interval: CandleInterval; candle: Candle }[],
    stored: Map<CandleKey, Versioned>,
  ): Promise<string[] | undefined> {
    const tickPuts = ticks.map((t) => ({
      Put: {
        TableName: this.tables.ticks,
        Item: {
          symbol,
          sk: tickSortKey(t.ts, t.tickId),
          tickId: t.tickId,
          ts: t.ts,
          price: t.price,
          size: t.size,
          // From ingest, not tick time: a redelivery (within the stream's retention) must still find the tick.
          expiresAt: Math.floor(t.ingestedAt / 1000) + this.retention.ticksDays * DAY_SECONDS,
        },
        ConditionExpression: 'attribute_not_exists(sk)',
      },
    }));
    const candlePuts = additions.map(({ interval, candle }) => {
      const before = stored.get(candleKey(interval, candle.start));
      const merged = before ? mergeCandles(before.candle, candle) : candle;
      return {
        Put: {
          TableName: this.tables.candles,
          Item: this.candleItem(symbol, interval, merged, (before?.version ?? 0) + 1),
          ConditionExpression: before ? 'version = :v' : 'attribute_not_exists(series)',
          ...(before ? { ExpressionAttributeValues: { ':v': before.version } } : {}),
        },
      };
    });
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: [...tickPuts, ...candlePuts] }));
      return undefined;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      return (error.CancellationReasons ?? []).map((r) => r.Code ?? 'None');
    }
  }

  private candleItem(symbol: string, interval: CandleInterval, c: Candle, version: number): Record<string, unknown> {
    return {
      series: candleSeries(symbol, interval),
      start: c.start,
      symbol,
      interval,
      open: c.open.price,
      openTs: c.open.ts,
      openTickId: c.open.tickId,
      close: c.close.price,
      closeTs: c.close.ts,
      closeTickId: c.close.tickId,
      high: c.high,
      low: c.low,
      // A string: the exact decimal sum (a JS number would round it on the way through the SDK).
      volume: c.volume,
      count: c.count,
      version,
      expiresAt: Math.floor(c.start / 1000) + this.retention.candleDays[interval] * DAY_SECONDS,
    };
  }
}

/** The reads of GET /ticks and GET /candles: one Query each, a page at a time. */
export class MarketDataReader {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: MarketDataTables,
  ) {}

  /** Ticks of `symbol` with from ≤ ts < to, in time order, after the sort key `after` (a page's last). */
  async queryTicks(q: RangeQuery): Promise<{ items: StoredTick[]; last?: string }> {
    const lo = tickSortKey(q.from, '');
    // '$' sorts after '#': every key of the millisecond to-1 is below this bound.
    const hi = `${String(q.to - 1).padStart(TICK_SK_DIGITS, '0')}$`;
    const out = await this.query(this.tables.ticks, { pk: 'symbol', value: q.symbol }, { sk: 'sk', lo, hi }, q);
    return {
      items: out.items.map((i) => ({
        tickId: String(i.tickId),
        ts: Number(i.ts),
        price: Number(i.price),
        size: Number(i.size),
      })),
      ...(out.last ? { last: String(out.last.sk) } : {}),
    };
  }

  /** Candles whose bucket starts in [from, to), in time order, after the bucket start `after`. */
  async queryCandles(q: RangeQuery & { interval: CandleInterval }): Promise<{ items: StoredCandle[]; last?: number }> {
    const series = candleSeries(q.symbol, q.interval);
    const out = await this.query(
      this.tables.candles,
      { pk: 'series', value: series },
      { sk: 'start', lo: q.from, hi: q.to - 1 },
      q,
    );
    return { items: out.items.map(candleFromItem), ...(out.last ? { last: Number(out.last.start) } : {}) };
  }

  private async query(
    table: string,
    hash: { pk: string; value: string },
    range: { sk: string; lo: string | number; hi: string | number },
    q: RangeQuery,
  ): Promise<{ items: Record<string, unknown>[]; last?: Record<string, unknown> }> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :lo AND :hi',
        // TTL deletes within days of expiry, not at it: expired items are not returned meanwhile.
        FilterExpression: '#exp > :now',
        ExpressionAttributeNames: { '#pk': hash.pk, '#sk': range.sk, '#exp': 'expiresAt' },
        ExpressionAttributeValues: {
          ':pk': hash.value,
          ':lo': range.lo,
          ':hi': range.hi,
          ':now': Math.floor((q.now ?? Date.now()) / 1000),
        },
        Limit: q.limit,
        ...(q.after === undefined ? {} : { ExclusiveStartKey: { [hash.pk]: hash.value, [range.sk]: q.after } }),
      }),
    );
    return { items: out.Items ?? [], ...(out.LastEvaluatedKey ? { last: out.LastEvaluatedKey } : {}) };
  }
}

export interface RangeQuery {
  symbol: string;
  from: number;
  to: number;
  limit: number;
  /** The last sort key of the previous page (a tick's `sk`, a candle's `start`). */
  after?: string | number;
  now?: number;
}

function candleFromItem(item: Record<string, unknown>): StoredCandle {
  return {
    interval: item.interval as CandleInterval,
    start: Number(item.start),
    open: { ts: Number(item.openTs), tickId: String(item.openTickId), price: Number(item.open) },
    close: { ts: Number(item.closeTs), tickId: String(item.closeTickId), price: Number(item.close) },
    high: Number(item.high),
    low: Number(item.low),
    volume: String(item.volume),
    count: Number(item.count),
  };
}

/** Consecutive chunks whose ticks plus the distinct candles they touch fit one transaction. */
function transactionChunks(ticks: StorableTick[]): StorableTick[][] {
  const chunks: StorableTick[][] = [];
  let chunk: StorableTick[] = [];
  let candles = new Set<string>();
  for (const tick of ticks) {
    const touched = CANDLE_INTERVALS.map((i) => candleKey(i, bucketStart(tick.ts, i)));
    const added = touched.filter((k) => !candles.has(k)).length;
    if (chunk.length + 1 + candles.size + added > TRANSACTION_LIMIT) {
      chunks.push(chunk);
      chunk = [];
      candles = new Set();
    }
    chunk.push(tick);
    for (const k of touched) candles.add(k);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
