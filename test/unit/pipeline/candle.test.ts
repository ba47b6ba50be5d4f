import fc from 'fast-check';
import {
  bucketStart,
  CANDLE_INTERVALS,
  candleOfTick,
  candlesOf,
  mergeCandles,
  type Candle,
  type CandleTick,
} from '../../../shared/domain/candle';

const T0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a multiple of every interval

const tickArb: fc.Arbitrary<CandleTick> = fc.record({
  // Within two hours, so the ticks share buckets at every interval and also straddle some.
  ts: fc.integer({ min: T0, max: T0 + 2 * 3_600_000 }),
  tickId: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/),
  price: fc.double({ min: 0.0001, max: 1e6, noNaN: true, noDefaultInfinity: true }),
  size: fc.oneof(
    fc.double({ min: 1e-9, max: 1e9, noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(0.1, 0.2, 0.3, 1e-7, 12_345.678_9),
  ),
});
// Distinct (ts, tickId): the identity market-data stores a tick under.
const ticksArb = fc.uniqueArray(tickArb, { minLength: 1, maxLength: 60, selector: (t) => `${t.ts}#${t.tickId}` });

/** Splits `items` at the given cut points into consecutive parts (some may be empty). */
function split<T>(items: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (items.length + 1)))].sort((a, b) => a - b);
  const parts: T[][] = [];
  let from = 0;
  for (const p of [...points, items.length]) {
    parts.push(items.slice(from, p));
    from = p;
  }
  return parts;
}

describe('candles', () => {
  it('merging the candles of any split of any permutation of the ticks gives the candle of all of them', () => {
    fc.assert(
      fc.property(
        ticksArb,
        fc.constantFrom(...CANDLE_INTERVALS),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.infiniteStream(fc.nat()),
        (ticks, interval, cuts, shuffle) => {
          const all = candlesOf(ticks, interval);
          const permuted = [...ticks]
            .map((t) => ({ t, k: shuffle.next().value as number }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.t);
          const merged = new Map<number, Candle>();
          // Each part is a "batch": its candles are folded into what is stored, like the handler does.
          for (const part of split(permuted, cuts)) {
            for (const [start, candle] of candlesOf(part, interval)) {
              const stored = merged.get(start);
              merged.set(start, stored ? mergeCandles(stored, candle) : candle);
            }
          }
          expect(merged).toEqual(all);
        },
      ),
    );
  });

  it('opens at the earliest tick and closes at the latest by tick time, whatever the arrival order', () => {
    const late = { ts: T0 + 50_000, tickId: 'b', price: 12, size: 1 };
    const early = { ts: T0 + 10_000, tickId: 'c', price: 10, size: 2 };
    const middle = { ts: T0 + 30_000, tickId: 'a', price: 15, size: 0.5 };
    const candle = candlesOf([late, early, middle], '1m').get(T0);
    expect(candle).toEqual({
      start: T0,
      open: { ts: early.ts, tickId: 'c', price: 10 },
      close: { ts: late.ts, tickId: 'b', price: 12 },
      high: 15,
      low: 10,
      volume: '3.5',
      count: 3,
    });
  });

  it('breaks a tie in time by tickId, so equal-time ticks give one answer in any order', () => {
    const a = { ts: T0, tickId: 'A1', price: 1, size: 1 };
    const b = { ts: T0, tickId: 'B1', price: 2, size: 1 };
    expect(candlesOf([a, b], '1m')).toEqual(candlesOf([b, a], '1m'));
    expect(candlesOf([b, a], '1m').get(T0)?.open.tickId).toBe('A1');
  });

  it('sums volume exactly in decimal (0.1 + 0.2 is 0.3), including exponent forms', () => {
    const ticks = [0.1, 0.2, 1e-7, 1e21].map((size, i) => ({ ts: T0 + i, tickId: `t${i}`, price: 1, size }));
    expect(candlesOf(ticks, '1h').get(T0)?.volume).toBe('1000000000000000000000.3000001');
  });

  it('puts a tick in the bucket its time falls in, at every interval', () => {
    const ts = T0 + 3_600_000 + 5 * 60_000 + 59_999;
    expect(bucketStart(ts, '1m')).toBe(T0 + 3_600_000 + 5 * 60_000);
    expect(bucketStart(ts, '5m')).toBe(T0 + 3_600_000 + 5 * 60_000);
    expect(bucketStart(ts, '1h')).toBe(T0 + 3_600_000);
    expect(candleOfTick({ ts, tickId: 'x', price: 3, size: 1 }, '5m').start).toBe(T0 + 3_900_000);
  });

  it('refuses to merge candles of different buckets', () => {
    const a = candleOfTick({ ts: T0, tickId: 'x', price: 1, size: 1 }, '1m');
    const b = candleOfTick({ ts: T0 + 60_000, tickId: 'y', price: 1, size: 1 }, '1m');
    expect(() => mergeCandles(a, b)).toThrow(/different|buckets/);
  });
});
