import fc from 'fast-check';
import { chunkForPutRecords, PUT_RECORDS_MAX_BYTES, PUT_RECORDS_MAX_RECORDS } from '../../../shared/aws/put-records';
import { initialFeedState, takeTicks, type MarketFeedConfig } from '../../../shared/domain/market-feed';
import { movingAverageCrossover } from '../../../shared/domain/ma-crossover';
import { OrderIdSchema } from '../../../shared/domain/order';
import { compareSequenceNumbers, deriveOrderId } from '../../../shared/domain/order-id';
import { RecentTickIds } from '../../../shared/domain/recent-tick-ids';
import { createStrategy, registerStrategy, strategyNames, type Strategy } from '../../../shared/domain/strategy';
import { TickSchema, type Tick } from '../../../shared/domain/tick';

const tick = (price: number, i = 0): Tick => ({ symbol: 'ACME', price, size: 1, ts: 1_767_225_600_000 + i });

function run<S>(strategy: Strategy<S>, prices: number[]) {
  let state = strategy.initialState();
  const orders: { at: number; side: string; quantity: number; price: number }[] = [];
  prices.forEach((price, i) => {
    const step = strategy.onTick(state, tick(price, i));
    state = step.state;
    for (const o of step.orders) orders.push({ at: i, ...o });
  });
  return { state, orders };
}

describe('moving-average crossover', () => {
  const strategy = movingAverageCrossover({ fastWindow: 2, slowWindow: 4, orderQuantity: 3 });

  it('buys when the fast average crosses above the slow one and sells when it crosses below', () => {
    const { orders, state } = run(strategy, [10, 9, 8, 7, 12, 14, 15, 6, 5]);
    expect(orders).toEqual([
      { at: 4, side: 'BUY', quantity: 3, price: 12 },
      { at: 7, side: 'SELL', quantity: 3, price: 6 },
    ]);
    expect(state).toEqual({ prices: [14, 15, 6, 5], relation: 'BELOW' });
  });

  it('emits nothing until the slow window is full, nor on the first relation, nor on a flat market', () => {
    expect(run(strategy, [1, 2, 3]).orders).toEqual([]);
    expect(run(strategy, [10, 9, 8, 7]).orders).toEqual([]);
    expect(run(strategy, [10, 9, 8, 7, 7, 7, 7, 7, 7]).orders).toEqual([]);
  });

  it('is pure: the same ticks from the same state give the same result, and the input state is untouched', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 60 }), (prices) => {
        const before = strategy.initialState();
        const frozen = JSON.stringify(before);
        const a = run(strategy, prices);
        const b = run(strategy, prices);
        expect(a).toEqual(b);
        expect(JSON.stringify(before)).toBe(frozen);
        expect(strategy.stateSchema.safeParse(a.state).success).toBe(true);
        // Orders alternate sides: a crossover can only go the other way next.
        a.orders.forEach((o, i) => i > 0 && expect(o.side).not.toBe(a.orders[i - 1]!.side));
      }),
      { numRuns: 500 },
    );
  });

  it('folding ticks in two parts equals folding them at once (how batches split)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 40 }), fc.nat(40), (prices, cut) => {
        const whole = run(strategy, prices);
        let state = strategy.initialState();
        const orders = [];
        for (const [i, p] of prices.entries()) {
          const step = strategy.onTick(state, tick(p, i));
          state = step.state;
          orders.push(...step.orders);
          if (i === cut) state = strategy.stateSchema.parse(JSON.parse(JSON.stringify(state)));
        }
        expect(state).toEqual(whole.state);
        expect(orders.length).toBe(whole.orders.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('strategy registry', () => {
  it('creates the default by name, refuses unknown names and bad params, and takes new strategies', () => {
    expect(createStrategy('ma-crossover', { fastWindow: 2, slowWindow: 3, orderQuantity: 1 }).name).toBe(
      'ma-crossover',
    );
    expect(() => createStrategy('nope', { fastWindow: 2, slowWindow: 3, orderQuantity: 1 })).toThrow(
      /unknown strategy "nope"/,
    );
    expect(() => createStrategy('ma-crossover', { fastWindow: 3, slowWindow: 3, orderQuantity: 1 })).toThrow(
      /fastWindow must be smaller/,
    );
    registerStrategy('always-buy', (params) => ({
      name: 'always-buy',
      stateSchema: movingAverageCrossover(params).stateSchema,
      initialState: () => ({ prices: [], relation: null }),
      onTick: (state, t) => ({ state, orders: [{ side: 'BUY', quantity: params.orderQuantity, price: t.price }] }),
    }));
    expect(strategyNames()).toContain('always-buy');
    const s = createStrategy('always-buy', { fastWindow: 1, slowWindow: 2, orderQuantity: 4 });
    expect(s.onTick(s.initialState(), tick(5)).orders).toEqual([{ side: 'BUY', quantity: 4, price: 5 }]);
  });
});

describe('load-test strategy', () => {
  it('is registered and makes one order per tick, alternating BUY and SELL so the position stays near flat', () => {
    const strategy = createStrategy('load-test-every-tick', { fastWindow: 5, slowWindow: 20, orderQuantity: 3 });
    const { state, orders } = run(strategy, [10, 11, 12, 13, 14]);
    expect(orders.map((o) => [o.at, o.side, o.quantity, o.price])).toEqual([
      [0, 'BUY', 3, 10],
      [1, 'SELL', 3, 11],
      [2, 'BUY', 3, 12],
      [3, 'SELL', 3, 13],
      [4, 'BUY', 3, 14],
    ]);
    expect(strategy.stateSchema.parse(state)).toEqual({ nextSide: 'SELL' });
  });
});

describe('order ids', () => {
  const symbol = fc.constantFrom('ACME', 'BTC/USD', 'BTC-USD', 'X.Y', 'A');
  const tickId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/);
  const seq = fc.bigInt({ min: 0n, max: 10n ** 56n }).map(String);

  it('are a deterministic, injective function of (symbol, tickId, index) and valid order ids', () => {
    fc.assert(
      fc.property(symbol, tickId, fc.nat(50), symbol, tickId, fc.nat(50), (s1, t1, i1, s2, t2, i2) => {
        const a = deriveOrderId(s1, t1, i1);
        expect(deriveOrderId(s1, t1, i1)).toBe(a);
        expect(OrderIdSchema.safeParse(a).success).toBe(true);
        const same = s1 === s2 && t1 === t2 && i1 === i2;
        expect(a === deriveOrderId(s2, t2, i2)).toBe(same);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse inputs that are not a tick identity', () => {
    expect(() => deriveOrderId('acme', 't1', 0)).toThrow(/symbol/);
    expect(() => deriveOrderId('ACME', 'has space', 0)).toThrow(/tickId/);
    expect(() => deriveOrderId('ACME', 't1', -1)).toThrow(/index/);
  });

  it('sequence numbers compare exactly, beyond double precision', () => {
    fc.assert(
      fc.property(seq, seq, (a, b) => {
        const expected = BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
        expect(compareSequenceNumbers(a, b)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
    expect(
      compareSequenceNumbers(
        '49680446649560405738878462039527096069923474520995266562',
        '49680446649560405738878462039527096069923474520995266563',
      ),
    ).toBe(-1);
  });
});

describe('market feed', () => {
  const config: MarketFeedConfig = {
    symbols: ['AAA', 'BBB', 'CCC'],
    seed: 's1',
    ticksPerSecond: 10,
    startTs: 1_767_225_600_000,
  };

  it('is a seeded, reproducible random walk of valid ticks at the configured rate', () => {
    const a = takeTicks(config, initialFeedState(config), 300).ticks;
    expect(takeTicks(config, initialFeedState(config), 300).ticks).toEqual(a);
    expect(takeTicks({ ...config, seed: 's2' }, initialFeedState({ ...config, seed: 's2' }), 300).ticks).not.toEqual(a);
    for (const t of a) expect(TickSchema.parse(t)).toEqual(t);
    expect(a.slice(0, 3).map((t) => t.symbol)).toEqual(['AAA', 'BBB', 'CCC']);
    expect(a[10]!.ts - a[0]!.ts).toBe(1000);
    expect(new Set(a.map((t) => t.tickId)).size).toBe(300);
    const moves = a.filter((t) => t.symbol === 'AAA').map((t) => t.price);
    moves.slice(1).forEach((p, i) => expect(Math.abs(p / moves[i]! - 1)).toBeLessThanOrEqual(0.0021));
  });

  it('taking ticks in pieces equals taking them at once', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), fc.nat(50), fc.nat(50), (seed, x, y) => {
        const c = { ...config, seed };
        const first = takeTicks(c, initialFeedState(c), x);
        const second = takeTicks(c, first.state, y);
        expect([...first.ticks, ...second.ticks]).toEqual(takeTicks(c, initialFeedState(c), x + y).ticks);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a feed without symbols or rate', () => {
    expect(() => initialFeedState({ ...config, symbols: [] })).toThrow(/at least one symbol/);
    expect(() => initialFeedState({ ...config, ticksPerSecond: 0 })).toThrow(/ticksPerSecond/);
  });
});

describe('PutRecords batching', () => {
  it('keeps order and every batch within 500 records and 5 MiB', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300_000 }), { maxLength: 1200 }), (sizes) => {
        const records = sizes.map((size, i) => ({ partitionKey: `K${i}`, data: new Uint8Array(size) }));
        const batches = chunkForPutRecords(records);
        expect(batches.flat()).toEqual(records);
        for (const b of batches) {
          expect(b.length).toBeLessThanOrEqual(PUT_RECORDS_MAX_RECORDS);
          const bytes = b.reduce((n, r) => n + r.data.byteLength + r.partitionKey.length, 0);
          expect(bytes).toBeLessThanOrEqual(PUT_RECORDS_MAX_BYTES);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('recent tickIds', () => {
  it('remember exactly the last `limit` ids, whatever the order of arrival', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }).map(String), { maxLength: 200 }), (ids) => {
        const recent = new RecentTickIds([], 16);
        for (const id of ids) if (!recent.has(id)) recent.add(id);
        const expected: string[] = [];
        for (const id of ids) if (!expected.slice(-16).includes(id)) expected.push(id);
        expect(recent.toArray()).toEqual(expected.slice(-16));
        expect(new RecentTickIds(recent.toArray(), 16).toArray()).toEqual(recent.toArray());
      }),
    );
  });
});
