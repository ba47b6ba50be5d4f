import type { Tick } from './tick';

/**
 * OHLCV candles, as pure values: a candle of ticks, and the merge of two candles of the same bucket. The merge is
 * commutative and associative (a property test holds it), so a candle built from any split of its ticks, in any
 * arrival order, equals the candle of all of them — which is what lets market-data fold each batch into the stored
 * candle instead of re-reading the bucket's ticks.
 *
 * - open/close are by tick time, not arrival: open is the tick with the smallest (ts, tickId), close the largest.
 *   The tickId breaks ties between ticks of the same millisecond, so the result never depends on order.
 * - volume is an exact decimal sum (a string): adding doubles rounds differently in different orders, so
 *   0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 would give two candles. Sizes are doubles whose shortest decimal form is
 *   at most 17 significant digits; their exact sum fits DynamoDB's 38-digit numbers for any realistic bucket.
 */
export const CANDLE_INTERVALS = ['1m', '5m', '1h'] as const;
export type CandleInterval = (typeof CANDLE_INTERVALS)[number];

export const INTERVAL_MS: Record<CandleInterval, number> = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000 };

/** A tick as candles see it: its identity for ordering and what it adds. */
export type CandleTick = Pick<Tick, 'price' | 'size' | 'ts'> & { tickId: string };

export interface CandlePoint {
  ts: number;
  tickId: string;
  price: number;
}

export interface Candle {
  /** Bucket start, epoch ms (a multiple of the interval). */
  start: number;
  open: CandlePoint;
  close: CandlePoint;
  high: number;
  low: number;
  /** Exact decimal sum of the ticks' sizes. */
  volume: string;
  /** Number of ticks. */
  count: number;
}

/**
 * A candle as clients see it (GET /candles, the WebSocket's `candle.update`): open and close as prices with their
 * times; the exact volume as its nearest double, the only form JSON carries.
 */
export interface PublicCandle {
  start: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  count: number;
  openTs: number;
  closeTs: number;
}

export function publicCandle(c: Candle): PublicCandle {
  return {
    start: c.start,
    open: c.open.price,
    high: c.high,
    low: c.low,
    close: c.close.price,
    volume: Number(c.volume),
    count: c.count,
    openTs: c.open.ts,
    closeTs: c.close.ts,
  };
}

export const bucketStart = (ts: number, interval: CandleInterval): number =>
  Math.floor(ts / INTERVAL_MS[interval]) * INTERVAL_MS[interval];

const point = (t: CandleTick): CandlePoint => ({ ts: t.ts, tickId: t.tickId, price: t.price });

/** Orders points by (ts, tickId); tickIds compare by code unit, the same everywhere. */
function comparePoints(a: CandlePoint, b: CandlePoint): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  return a.tickId < b.tickId ? -1 : a.tickId > b.tickId ? 1 : 0;
}

/** Orders ticks as candles do, by (ts, tickId): negative when `a` comes first. */
export const compareTicks = (a: CandleTick, b: CandleTick): number => comparePoints(point(a), point(b));

/** Whether `candle` is at least as recent as `tick`: its close is that tick or one after it by (ts, tickId). */
export const closesAtOrAfter = (candle: Candle, tick: CandleTick): boolean =>
  comparePoints(candle.close, point(tick)) >= 0;

export function candleOfTick(tick: CandleTick, interval: CandleInterval): Candle {
  return {
    start: bucketStart(tick.ts, interval),
    open: point(tick),
    close: point(tick),
    high: tick.price,
    low: tick.price,
    volume: formatDecimal(toDecimal(tick.size)),
    count: 1,
  };
}

/** Two candles of the same bucket as one. Throws for different buckets: that is a caller's bug, not data. */
export function mergeCandles(a: Candle, b: Candle): Candle {
  if (a.start !== b.start) throw new Error(`cannot merge candles of buckets ${a.start} and ${b.start}`);
  return {
    start: a.start,
    open: comparePoints(a.open, b.open) <= 0 ? a.open : b.open,
    close: comparePoints(a.close, b.close) >= 0 ? a.close : b.close,
    high: Math.max(a.high, b.high),
    low: Math.min(a.low, b.low),
    volume: addDecimals(a.volume, b.volume),
    count: a.count + b.count,
  };
}

/** The candles of `ticks` in `interval`, one per bucket they fall in, keyed by bucket start. */
export function candlesOf(ticks: readonly CandleTick[], interval: CandleInterval): Map<number, Candle> {
  const candles = new Map<number, Candle>();
  for (const tick of ticks) {
    const single = candleOfTick(tick, interval);
    const existing = candles.get(single.start);
    candles.set(single.start, existing ? mergeCandles(existing, single) : single);
  }
  return candles;
}

/*
 * Exact decimals, hand-written on BigInt rather than a decimal library: the only operations needed are "parse a
 * double's decimal form" and "add", about twenty lines; a dependency for that would be most of its weight unused.
 */
interface Decimal {
  units: bigint;
  scale: number;
}

/** A finite number's shortest round-trip decimal form (`0.1` → 1 × 10⁻¹, `1e-7` → 1 × 10⁻⁷), exactly. */
function toDecimal(value: number | string): Decimal {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i.exec(String(value));
  if (!match) throw new Error(`not a decimal number: ${String(value)}`);
  const [, sign = '', whole = '', fraction = '', exponent = '0'] = match;
  let units = BigInt(`${sign}${whole}${fraction}`);
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units, scale };
}

function addDecimals(a: string, b: string): string {
  const x = toDecimal(a);
  const y = toDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  const units = x.units * 10n ** BigInt(scale - x.scale) + y.units * 10n ** BigInt(scale - y.scale);
  return formatDecimal({ units, scale });
}

/** Plain decimal notation without trailing zeros: what DynamoDB stores as a number and JSON can carry. */
function formatDecimal({ units, scale }: Decimal): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}
