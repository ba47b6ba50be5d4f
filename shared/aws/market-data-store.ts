import {
  BatchGetCommand,
  QueryCommand,
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
import { byGroup } from '../util/chunks';
import * as z from 'zod';
import { parseJson } from '../util/json';
import { sleep as defaultSleep } from '../util/wait';
import { backOffAfterConflict, transactWrite } from './transact-write';

/**
 * The market-data tables, the one home of their keys and item shapes (market-data writes, market-data-api reads).
 *
 * TicksTable: `symbol` (hash) + `sk` (range): a symbol's ticks in slices of TICK_SLICE_MS, one item per slice, `sk`
 * = the slice's start (13 digits), its ticks in a list in time order — a time range of one symbol is one Query in
 * time order. One item per slice instead of one per tick: DynamoDB Local, the embedded cloud's DynamoDB, writes
 * ~1,000–1,600 items/s however many clients write, and at 1,000 ticks/s the ticks alone took most of it
 * (docs/performance.md). Items written before (`sk` = `<ts>#<tickId>`, one tick) are still read.
 * CandlesTable: `series` = `<symbol>#<interval>` (hash) + `start` (bucket start, epoch ms, range). Both carry
 * `expiresAt` (epoch seconds), the TTL attribute.
 *
 * Exactly-once: the slices and the candles one symbol's batch touches are read (one consistent BatchGetItem), the
 * ticks not yet in their slice are added to it and folded into the candles, and all of it is written by ONE
 * TransactWriteItems, each item conditional on the version read. A redelivered tick is found in its slice and
 * neither stored nor counted again; when every tick of a batch is already stored, nothing is written. A crash
 * between read and write changes nothing; a concurrent writer (a timed-out invocation still running) moves a
 * version, the transaction is cancelled, and the retry re-reads. docs/architecture.md argues this against
 * recomputing candles.
 */
export const TICK_SK_DIGITS = 13;
/** The time slice one ticks item holds. */
export const TICK_SLICE_MS = 250;
/**
 * At most this many ticks in one slice item (~70 bytes each: ~140 KB, DynamoDB's item limit is 400 KB) — 8,000
 * ticks/s of one symbol. A slice that would pass it fails its batch with an error saying so.
 */
export const MAX_TICKS_PER_SLICE = 2_000;

/** A slice would hold more than MAX_TICKS_PER_SLICE ticks: no retry can store them (the consumer skips them). */
export class SliceFullError extends Error {
  constructor(symbol: string, start: number) {
    super(`${symbol}: more than ${MAX_TICKS_PER_SLICE} ticks in the ${TICK_SLICE_MS} ms from ${start}`);
    this.name = 'SliceFullError';
  }
}
/**
 * Items per TransactWriteItems: slices + the candles they touch. AWS takes 100 items but 4 MB a request; 25 full
 * slices stay below the 4 MB.
 */
const TRANSACTION_LIMIT = 25;

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
    let calls = 0;
    for (let attempt = 1; ; attempt++) {
      const { slices, candles } = await this.readState(symbol, ticks);
      const fresh = ticks.filter((t) => !slices.get(sliceStart(t.ts))?.keys.has(tickSortKey(t.ts, t.tickId)));
      calls += fresh.length === 0 ? 1 : 2;
      const outcome = () => ({ stored: fresh.length, duplicates: ticks.length - fresh.length, calls });
      if (fresh.length === 0) return outcome();
      const reasons = await this.tryWrite(symbol, fresh, slices, candles);
      if (reasons === undefined) return outcome();
      // A slice or a candle moved under us (a concurrent or timed-out writer): back off, re-read, retry — a bounded
      // number of times, then the batch is redelivered.
      await backOffAfterConflict(
        attempt,
        this.sleep,
        () => new Error(`market data of ${symbol} not written: ${reasons.join(', ')}`),
      );
    }
  }

  /** The stored slices and candles `ticks` fall into, by one consistent BatchGetItem over both tables. */
  private async readState(symbol: string, ticks: StorableTick[]): Promise<StoredState> {
    const sliceKeys = [...new Set(ticks.map((t) => sliceStart(t.ts)))].map((start) => ({
      symbol,
      sk: sliceKey(start),
    }));
    const candleKeys = CANDLE_INTERVALS.flatMap((interval) =>
      [...new Set(ticks.map((t) => bucketStart(t.ts, interval)))].map((start) => ({
        series: candleSeries(symbol, interval),
        start,
      })),
    );
    const items = await batchGet(this.doc, [
      { table: this.tables.ticks, keys: sliceKeys },
      { table: this.tables.candles, keys: candleKeys },
    ]);
    const slices = new Map<number, StoredSlice>();
    for (const item of items.get(this.tables.ticks) ?? []) {
      const ticksOf = sliceTicks(item);
      const keys = new Set(ticksOf.map((t) => tickSortKey(t.ts, t.tickId)));
      slices.set(Number(item.sk), {
        ticks: ticksOf,
        keys,
        version: Number(item.version),
        expiresAt: Number(item.expiresAt),
      });
    }
    const candles = new Map<CandleKey, Versioned>();
    for (const item of items.get(this.tables.candles) ?? []) {
      const candle = candleFromItem(item);
      candles.set(candleKey(candle.interval, candle.start), { candle, version: Number(item.version) });
    }
    return { slices, candles };
  }

  /** One TransactWriteItems of the slices with `fresh` added and the candles with them folded in. */
  private async tryWrite(
    symbol: string,
    fresh: StorableTick[],
    slices: Map<number, StoredSlice>,
    candles: Map<CandleKey, Versioned>,
  ): Promise<string[] | undefined> {
    const bySlice = byGroup(fresh, (t) => sliceStart(t.ts));
    const slicePuts = [...bySlice].map(([start, added]) => {
      const before = slices.get(start);
      const all = [...(before?.ticks ?? []), ...added.map(storedTick)].sort(compareStored);
      if (all.length > MAX_TICKS_PER_SLICE) throw new SliceFullError(symbol, start);
      // From ingest, not tick time: a redelivery (within the stream's retention) must still find the tick.
      const expiresAt = Math.max(
        before?.expiresAt ?? 0,
        ...added.map((t) => Math.floor(t.ingestedAt / 1000) + this.retention.ticksDays * DAY_SECONDS),
      );
      const item = {
        symbol,
        sk: sliceKey(start),
        packed: packTicks(all),
        version: (before?.version ?? 0) + 1,
        expiresAt,
      };
      return { Put: { TableName: this.tables.ticks, Item: item, ...versionCondition(before?.version, 'sk') } };
    });
    const candlePuts = CANDLE_INTERVALS.flatMap((interval) =>
      [...candlesOf(fresh, interval).values()].map((candle) => {
        const before = candles.get(candleKey(interval, candle.start));
        const merged = before ? mergeCandles(before.candle, candle) : candle;
        const Item = this.candleItem(symbol, interval, merged, (before?.version ?? 0) + 1);
        return { Put: { TableName: this.tables.candles, Item, ...versionCondition(before?.version, 'series') } };
      }),
    );
    return transactWrite(this.doc, [...slicePuts, ...candlePuts]);
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

/** One stored candle's key: the symbol, its interval and its bucket's start. */
export interface CandleRef {
  symbol: string;
  interval: CandleInterval;
  start: number;
}

/**
 * The items of `requests` that exist, per table, by consistent BatchGetItem: 100 keys a call, over every table of the
 * request, unprocessed keys asked again.
 */
async function batchGet(
  doc: DynamoDBDocumentClient,
  requests: { table: string; keys: Record<string, unknown>[] }[],
): Promise<Map<string, Record<string, unknown>[]>> {
  const found = new Map<string, Record<string, unknown>[]>();
  let pending = requests.flatMap(({ table, keys }) => keys.map((key) => ({ table, key })));
  while (pending.length > 0) {
    const call = pending.slice(0, 100);
    pending = pending.slice(100);
    const RequestItems: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: true }> = {};
    for (const { table, key } of call) (RequestItems[table] ??= { Keys: [], ConsistentRead: true }).Keys.push(key);
    const out: BatchGetCommandOutput = await doc.send(new BatchGetCommand({ RequestItems }));
    for (const [table, items] of Object.entries(out.Responses ?? {}))
      found.set(table, [...(found.get(table) ?? []), ...items]);
    for (const [table, { Keys = [] }] of Object.entries(out.UnprocessedKeys ?? {}))
      pending.push(...Keys.map((key) => ({ table, key })));
  }
  return found;
}

/** The candle items of `refs` that exist (consistent reads). */
async function batchGetCandles(
  doc: DynamoDBDocumentClient,
  table: string,
  refs: readonly CandleRef[],
): Promise<Record<string, unknown>[]> {
  const keys = refs.map((r) => ({ series: candleSeries(r.symbol, r.interval), start: r.start }));
  return (await batchGet(doc, [{ table, keys }])).get(table) ?? [];
}

/** The current state of given candles, for `candle.update` (the notifier): the stored candles, as GET /candles. */
export class CandleLookup {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly candlesTable: string,
  ) {}

  async read(refs: readonly CandleRef[]): Promise<(StoredCandle & { symbol: string })[]> {
    const items = await batchGetCandles(this.doc, this.candlesTable, refs);
    return items.map((item) => ({ ...candleFromItem(item), symbol: String(item.symbol) }));
  }
}

/** The reads of GET /ticks and GET /candles: one Query each, a page at a time. */
export class MarketDataReader {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tables: MarketDataTables,
  ) {}

  /**
   * Ticks of `symbol` with from ≤ ts < to, in time order, after the tick key `after` (a page's last), at most
   * `limit`; `last` is set when more may follow. The slices are read in pages of `limit` items until the page has
   * `limit` ticks or the range ends.
   */
  async queryTicks(q: RangeQuery): Promise<{ items: StoredTick[]; last?: string }> {
    const after = typeof q.after === 'string' ? q.after : '';
    const from = after ? Math.max(q.from, Number(after.slice(0, TICK_SK_DIGITS))) : q.from;
    const lo = sliceKey(sliceStart(from));
    // '$' sorts after '#': the one-tick items of before (`<ts>#<tickId>`) of the millisecond to-1 are included.
    const hi = `${String(q.to - 1).padStart(TICK_SK_DIGITS, '0')}$`;
    // By tick key: a tick stored one per item before slices and again in a slice (redelivered across the upgrade)
    // is one tick.
    const found = new Map<string, StoredTick>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.query(
        this.tables.ticks,
        { pk: 'symbol', value: q.symbol },
        { sk: 'sk', lo, hi },
        {
          ...q,
          after: undefined,
        },
        startKey,
      );
      for (const item of out.items)
        for (const t of sliceTicks(item))
          if (t.ts >= q.from && t.ts < q.to && tickSortKey(t.ts, t.tickId) > after)
            found.set(tickSortKey(t.ts, t.tickId), t);
      startKey = out.last;
    } while (startKey && found.size < q.limit);
    const items = [...found.values()].sort(compareStored);
    const page = items.slice(0, q.limit);
    const more = items.length > q.limit || (startKey !== undefined && page.length === q.limit);
    const lastTick = page[page.length - 1];
    return { items: page, ...(more && lastTick ? { last: tickSortKey(lastTick.ts, lastTick.tickId) } : {}) };
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
    startKey?: Record<string, unknown>,
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
        ...(startKey
          ? { ExclusiveStartKey: startKey }
          : q.after === undefined
            ? {}
            : { ExclusiveStartKey: { [hash.pk]: hash.value, [range.sk]: q.after } }),
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

/** Consecutive chunks whose distinct slices and candles fit one transaction. */
function transactionChunks(ticks: StorableTick[]): StorableTick[][] {
  const chunks: StorableTick[][] = [];
  let chunk: StorableTick[] = [];
  let items = new Set<string>();
  for (const tick of ticks) {
    const touched = [
      `slice@${sliceStart(tick.ts)}`,
      ...CANDLE_INTERVALS.map((i) => candleKey(i, bucketStart(tick.ts, i))),
    ];
    const added = touched.filter((k) => !items.has(k)).length;
    if (items.size + added > TRANSACTION_LIMIT) {
      chunks.push(chunk);
      chunk = [];
      items = new Set();
    }
    chunk.push(tick);
    for (const k of touched) items.add(k);
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

interface StoredSlice {
  ticks: StoredTick[];
  /** The ticks' keys (tickSortKey), to find a redelivered tick. */
  keys: Set<string>;
  version: number;
  expiresAt: number;
}
interface StoredState {
  slices: Map<number, StoredSlice>;
  candles: Map<CandleKey, Versioned>;
}

const sliceStart = (ts: number) => ts - (((ts % TICK_SLICE_MS) + TICK_SLICE_MS) % TICK_SLICE_MS);
const sliceKey = (start: number) => String(start).padStart(TICK_SK_DIGITS, '0');
const storedTick = (t: StorableTick): StoredTick => ({ tickId: t.tickId, ts: t.ts, price: t.price, size: t.size });
const compareStored = (a: StoredTick, b: StoredTick) =>
  a.ts - b.ts || (a.tickId < b.tickId ? -1 : a.tickId > b.tickId ? 1 : 0);

/**
 * A slice's ticks as one string attribute (`packed`): a JSON array of `[tickId, ts, price, size]`. Not a list of maps:
 * a slice of 150 ticks was 750 attribute values for DynamoDB Local to parse and size, and on AWS each tick's four
 * attribute names counted in the size of an item every batch rewrites (write units); nothing queries inside a slice.
 * The ticks' request bytes halved at 5,000 ticks/s (docs/performance.md, session 30).
 */
function packTicks(ticks: readonly StoredTick[]): string {
  return JSON.stringify(ticks.map((t) => [t.tickId, t.ts, t.price, t.size]));
}

const PackedTicksSchema = z.array(z.tuple([z.string(), z.number(), z.number(), z.number()]));

/**
 * A ticks item's ticks: a slice's packed string, a slice's list of maps (written before session 30), or the one tick
 * of an item written before slices.
 */
function sliceTicks(item: Record<string, unknown>): StoredTick[] {
  if (typeof item.packed === 'string') {
    const parsed = PackedTicksSchema.safeParse(parseJson(item.packed));
    if (!parsed.success)
      throw new Error(`ticks item ${String(item.symbol)}/${String(item.sk)}: malformed packed ticks`);
    return parsed.data.map(([tickId, ts, price, size]) => ({ tickId, ts, price, size }));
  }
  const list = Array.isArray(item.ticks) ? (item.ticks as Record<string, unknown>[]) : [item];
  return list.map((i) => ({
    tickId: String(i.tickId),
    ts: Number(i.ts),
    price: Number(i.price),
    size: Number(i.size),
  }));
}

/** Put only over the version read; put only when absent when none was read. */
function versionCondition(version: number | undefined, keyAttribute: string) {
  return version === undefined
    ? { ConditionExpression: `attribute_not_exists(${keyAttribute})` }
    : { ConditionExpression: 'version = :v', ExpressionAttributeValues: { ':v': version } };
}
