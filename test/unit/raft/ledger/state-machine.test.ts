import { ledgerSnapshotText, restoreLedgerText } from '../../../support/ledger-snapshot';
import fc from 'fast-check';
import type { Order, OrderBatchResult, OrderResult } from '../../../../shared/domain/order';
import {
  checkRisk,
  DEFAULT_RISK_LIMITS,
  encodeCommand,
  isCommandError,
  LedgerStateMachine,
  type LedgerApplyResult,
  type LedgerCommand,
} from '../../../../raft-node/src/ledger';

function order(overrides: Partial<Order> = {}): Order {
  return { orderId: 'o-1', account: 'acct', symbol: 'AAPL', side: 'BUY', quantity: 10, price: 100, ...overrides };
}

/** Applies commands at consecutive indexes from the ledger's applied index. */
function applyAll(ledger: LedgerStateMachine, commands: readonly (LedgerCommand | string)[]): LedgerApplyResult[] {
  return commands.map((command) =>
    ledger.apply(typeof command === 'string' ? command : encodeCommand(command), ledger.appliedIndex + 1),
  );
}
function applyOne(ledger: LedgerStateMachine, command: LedgerCommand | string): LedgerApplyResult {
  return applyAll(ledger, [command])[0] as LedgerApplyResult;
}

describe('LedgerStateMachine', () => {
  it('accepts orders with gapless sequence numbers and tracks positions', () => {
    const ledger = new LedgerStateMachine();
    const results = applyAll(ledger, [
      { type: 'order', order: order({ orderId: 'a', quantity: 10 }) },
      { type: 'order', order: order({ orderId: 'b', side: 'SELL', quantity: 25 }) },
      { type: 'order', order: order({ orderId: 'c', symbol: 'MSFT', quantity: 5 }) },
    ]);
    expect(results).toEqual([
      { ...order({ orderId: 'a', quantity: 10 }), status: 'ACCEPTED', seq: 1, duplicate: false, position: 10 },
      {
        ...order({ orderId: 'b', side: 'SELL', quantity: 25 }),
        status: 'ACCEPTED',
        seq: 2,
        duplicate: false,
        position: -15,
      },
      {
        ...order({ orderId: 'c', symbol: 'MSFT', quantity: 5 }),
        status: 'ACCEPTED',
        seq: 3,
        duplicate: false,
        position: 5,
      },
    ]);
    expect(ledger.lastSeq).toBe(3);
    expect(ledger.appliedIndex).toBe(3);
    expect(ledger.positions()).toEqual([
      { account: 'acct', symbol: 'AAPL', quantity: -15 },
      { account: 'acct', symbol: 'MSFT', quantity: 5 },
    ]);
    expect(ledger.getOrder('b')).toEqual(results[1]);
    expect(ledger.getOrder('zzz')).toBeUndefined();
  });

  it('answers a repeated order id with the first result and changes nothing', () => {
    const ledger = new LedgerStateMachine();
    const first = applyOne(ledger, { type: 'order', order: order({ orderId: 'dup', quantity: 7 }) });
    const before = ledgerSnapshotText(ledger);
    // Even a different payload under the same id is the same order: exactly once per orderId.
    const repeat = applyOne(ledger, { type: 'order', order: order({ orderId: 'dup', quantity: 9, side: 'SELL' }) });
    expect(repeat).toEqual({ ...first, duplicate: true });
    expect(ledger.getOrder('dup')).toEqual(first);
    expect(JSON.parse(ledgerSnapshotText(ledger))).toEqual({ ...JSON.parse(before), appliedIndex: 2 });
  });

  it('rejects by each risk limit and by the halt switch, records the reason, and dedups rejections too', () => {
    const ledger = new LedgerStateMachine();
    applyOne(ledger, {
      type: 'setLimits',
      limits: { maxOrderQuantity: 100, maxOrderNotional: 5_000, maxAbsPosition: 150 },
    });
    const tooMany = applyOne(ledger, { type: 'order', order: order({ orderId: 'q', quantity: 101, price: 1 }) });
    const tooBig = applyOne(ledger, { type: 'order', order: order({ orderId: 'n', quantity: 60, price: 100 }) });
    applyOne(ledger, { type: 'order', order: order({ orderId: 'fill', quantity: 100, price: 1 }) });
    const tooLong = applyOne(ledger, { type: 'order', order: order({ orderId: 'p', quantity: 51, price: 1 }) });
    expect(tooMany).toMatchObject({
      status: 'REJECTED',
      reason: 'quantity 101 exceeds the per-order limit of 100',
      position: 0,
    });
    expect(tooBig).toMatchObject({ status: 'REJECTED', reason: 'notional 6000 exceeds the per-order limit of 5000' });
    expect(tooLong).toMatchObject({
      status: 'REJECTED',
      reason: 'position 151 in AAPL after the fill would exceed the limit of ±150',
      position: 100,
    });
    expect(tooLong).not.toHaveProperty('seq');

    expect(applyOne(ledger, { type: 'halt', reason: 'market closed' })).toEqual({
      halted: true,
      reason: 'market closed',
    });
    const halted = applyOne(ledger, { type: 'order', order: order({ orderId: 'h', quantity: 1, price: 1 }) });
    expect(halted).toMatchObject({ status: 'REJECTED', reason: 'trading is halted: market closed' });
    expect(applyOne(ledger, { type: 'resume' })).toEqual({ halted: false, reason: null });
    // The rejection stands after the resume: the id was already decided.
    expect(applyOne(ledger, { type: 'order', order: order({ orderId: 'h', quantity: 1, price: 1 }) })).toEqual({
      ...(halted as OrderResult),
      duplicate: true,
    });
    expect(applyOne(ledger, { type: 'order', order: order({ orderId: 'h2', quantity: 1, price: 1 }) })).toMatchObject({
      status: 'ACCEPTED',
      seq: 2,
    });
  });

  it('starts with the documented default limits and updates only the limits named', () => {
    const ledger = new LedgerStateMachine();
    expect(ledger.limits).toEqual({
      maxOrderQuantity: 10_000,
      maxOrderNotional: 10_000_000,
      maxAbsPosition: 1_000_000,
      minPrice: 0.01,
      minOrderNotional: 1,
    });
    expect(applyOne(ledger, { type: 'setLimits', limits: { maxAbsPosition: 42 } })).toEqual({
      ...DEFAULT_RISK_LIMITS,
      maxAbsPosition: 42,
    });
    expect(ledger.halted).toBe(false);
  });

  it('records a malformed command as a no-op with an error instead of failing', () => {
    const ledger = new LedgerStateMachine();
    applyOne(ledger, { type: 'order', order: order() });
    const before = JSON.parse(ledgerSnapshotText(ledger));
    const results = applyAll(ledger, [
      'not json',
      JSON.stringify({ type: 'explode' }),
      JSON.stringify({ type: 'order', order: { ...order({ orderId: 'neg' }), quantity: -1 } }),
      JSON.stringify({ type: 'setLimits', limits: { maxOrderQuantity: 0 } }),
    ]);
    expect(results.every(isCommandError)).toBe(true);
    expect(results[0]).toEqual({ error: 'malformed command: entry data is not JSON' });
    expect(results[2]).toEqual({ error: expect.stringContaining('order.quantity') });
    expect(results[3]).toEqual({ error: expect.stringContaining('limits.maxOrderQuantity') });
    expect(JSON.parse(ledgerSnapshotText(ledger))).toEqual({ ...before, appliedIndex: 5 });
  });

  it('refuses an entry index that does not grow, and accepts skipped indexes (no-op and config entries)', () => {
    const ledger = new LedgerStateMachine();
    ledger.apply(encodeCommand({ type: 'resume' }), 3);
    expect(() => ledger.apply(encodeCommand({ type: 'resume' }), 3)).toThrow('entry 3 applied out of order');
    ledger.apply(encodeCommand({ type: 'resume' }), 7);
    expect(ledger.appliedIndex).toBe(7);
  });

  it('lists positions for one account', () => {
    const ledger = new LedgerStateMachine();
    applyAll(ledger, [
      { type: 'order', order: order({ orderId: '1', account: 'b', symbol: 'Z' }) },
      { type: 'order', order: order({ orderId: '2', account: 'a', symbol: 'Y' }) },
      { type: 'order', order: order({ orderId: '3', account: 'b', symbol: 'A' }) },
    ]);
    expect(ledger.positions('b').map((p) => p.symbol)).toEqual(['A', 'Z']);
    expect(ledger.positions().map((p) => `${p.account}/${p.symbol}`)).toEqual(['a/Y', 'b/A', 'b/Z']);
    expect(ledger.positions('nobody')).toEqual([]);
  });

  it('refuses snapshot records that are not a ledger snapshot, or inconsistent', () => {
    const ledger = new LedgerStateMachine();
    applyAll(ledger, [
      { type: 'order', order: order({ orderId: 'x' }) },
      { type: 'order', order: order({ orderId: 'y' }) },
    ]);
    const [head, orders, positions] = [...ledger.snapshotRecords()].map((r) => JSON.parse(r));
    const restore =
      (...records: unknown[]) =>
      () =>
        LedgerStateMachine.restoreFrom(records);
    expect(restore()).toThrow('invalid ledger snapshot: first record');
    expect(restore({ ...head, version: 1 }, orders, positions)).toThrow(
      'invalid ledger snapshot: first record: version',
    );
    expect(restore({ ...head, lastSeq: 3 }, orders, positions)).toThrow('2 accepted orders but lastSeq is 3');
    expect(restore({ ...head, orders: 3 }, orders, positions)).toThrow(
      '2 orders, 1 positions and 0 cancels, but the head says 3, 1 and 0',
    );
    expect(restore(head, positions, orders)).toThrow('orders after positions');
    expect(restore(head, { kind: 'trades', trades: [] })).toThrow('invalid ledger snapshot');
    const sameSeq = { ...orders, orders: [orders.orders[0], { ...orders.orders[1], seq: 1 }] };
    expect(restore(head, sameSeq, positions)).toThrow('seq 1 of order y is repeated');
    const twice = { ...orders, orders: [orders.orders[0], orders.orders[0]] };
    expect(restore(head, twice, positions)).toThrow('order x appears twice');
  });

  describe('order batches', () => {
    const batch = (...orders: Order[]): LedgerCommand => ({ type: 'orderBatch', orders });
    const resultsOf = (r: LedgerApplyResult): OrderResult[] => (r as OrderBatchResult).results;
    const accepted = (o: Order, seq: number, position: number): OrderResult => ({
      ...o,
      status: 'ACCEPTED',
      seq,
      duplicate: false,
      position,
    });

    it('applies in order with gapless seqs; repeats of earlier entries and within the batch answer the first result', () => {
      const ledger = new LedgerStateMachine();
      const a = order({ orderId: 'a', quantity: 1 });
      const b = order({ orderId: 'b', quantity: 2 });
      const c = order({ orderId: 'c', quantity: 3 });
      applyOne(ledger, { type: 'order', order: a });
      const first = resultsOf(applyOne(ledger, batch(b, c)));
      expect(first).toEqual([accepted(b, 2, 3), accepted(c, 3, 6)]);

      const d = order({ orderId: 'd', quantity: 4 });
      const big = order({ orderId: 'big', quantity: 20_000 });
      const f = order({ orderId: 'f', side: 'SELL', quantity: 5 });
      // A repeated id is the same order whatever its payload: the second 'd' answers the first 'd'.
      const results = resultsOf(applyOne(ledger, batch(d, a, b, { ...d, quantity: 99 }, big, f)));
      expect(results).toEqual([
        accepted(d, 4, 10),
        { ...accepted(a, 1, 1), duplicate: true },
        { ...accepted(b, 2, 3), duplicate: true },
        { ...accepted(d, 4, 10), duplicate: true },
        {
          ...big,
          status: 'REJECTED',
          reason: 'quantity 20000 exceeds the per-order limit of 10000',
          duplicate: false,
          position: 10,
        },
        accepted(f, 5, 5),
      ]);
      expect(ledger.lastSeq).toBe(5);
      expect(ledger.appliedIndex).toBe(3);
      expect(ledger.positions()).toEqual([{ account: 'acct', symbol: 'AAPL', quantity: 5 }]);
      // Its orders are recorded one by one: a single repeat, or a repeat of the whole batch, answers them.
      expect(applyOne(ledger, { type: 'order', order: f })).toEqual({ ...accepted(f, 5, 5), duplicate: true });
      expect(resultsOf(applyOne(ledger, batch(d, big)))).toEqual([
        { ...results[0], duplicate: true },
        { ...results[4], duplicate: true },
      ]);
      expect(ledger.lastSeq).toBe(5);
    });

    it('lets each order see the position the earlier ones left: the risk check rejects some and accepts later ones', () => {
      const ledger = new LedgerStateMachine();
      applyOne(ledger, { type: 'setLimits', limits: { maxAbsPosition: 100 } });
      const results = resultsOf(
        applyOne(
          ledger,
          batch(
            order({ orderId: 'r1', quantity: 60 }),
            order({ orderId: 'r2', quantity: 60 }),
            order({ orderId: 'r3', side: 'SELL', quantity: 30 }),
            order({ orderId: 'r4', quantity: 60 }),
          ),
        ),
      );
      expect(results.map((r) => [r.orderId, r.status, r.seq, r.position])).toEqual([
        ['r1', 'ACCEPTED', 1, 60],
        ['r2', 'REJECTED', undefined, 60],
        ['r3', 'ACCEPTED', 2, 30],
        ['r4', 'ACCEPTED', 3, 90],
      ]);
      expect(results[1]!.reason).toBe('position 120 in AAPL after the fill would exceed the limit of ±100');
    });

    it('is never split by a halt: a halt entry lands before or after a whole batch, and its rejections stand', () => {
      const ledger = new LedgerStateMachine();
      const before = [order({ orderId: 'h1' }), order({ orderId: 'h2' })];
      const after = [order({ orderId: 'h3' }), order({ orderId: 'h4' })];
      const results = applyAll(ledger, [batch(...before), { type: 'halt', reason: 'fat finger' }, batch(...after)]);
      expect(resultsOf(results[0]!).map((r) => [r.status, r.seq])).toEqual([
        ['ACCEPTED', 1],
        ['ACCEPTED', 2],
      ]);
      expect(resultsOf(results[2]!).map((r) => [r.status, r.reason])).toEqual([
        ['REJECTED', 'trading is halted: fat finger'],
        ['REJECTED', 'trading is halted: fat finger'],
      ]);
      applyOne(ledger, { type: 'resume' });
      // Resent after the resume, the batch's orders were decided already: the rejections are answered again.
      const resent = resultsOf(applyOne(ledger, batch(...after, order({ orderId: 'h5' }))));
      expect(resent.map((r) => [r.orderId, r.status, r.duplicate, r.seq])).toEqual([
        ['h3', 'REJECTED', true, undefined],
        ['h4', 'REJECTED', true, undefined],
        ['h5', 'ACCEPTED', false, 3],
      ]);
    });

    it('applies none of a malformed batch: one bad order makes the entry a no-op with an error naming it', () => {
      const ledger = new LedgerStateMachine();
      applyOne(ledger, { type: 'order', order: order({ orderId: 'x' }) });
      const before = JSON.parse(ledgerSnapshotText(ledger));
      const bad = {
        type: 'orderBatch',
        orders: [order({ orderId: 'ok' }), { ...order({ orderId: 'neg' }), price: -1 }],
      };
      expect(applyOne(ledger, JSON.stringify(bad))).toEqual({ error: expect.stringContaining('orders.1.price') });
      expect(applyOne(ledger, JSON.stringify({ type: 'orderBatch', orders: [] }))).toEqual({
        error: expect.stringContaining('orders'),
      });
      expect(JSON.parse(ledgerSnapshotText(ledger))).toEqual({ ...before, appliedIndex: 3 });
      expect(ledger.getOrder('ok')).toBeUndefined();
    });

    it('round-trips batch-made state through snapshot and restore, and goes on identically', () => {
      const ledger = new LedgerStateMachine();
      applyAll(ledger, [
        batch(order({ orderId: 's1' }), order({ orderId: 's2', quantity: 20_000 }), order({ orderId: 's1' })),
        batch(order({ orderId: 's3', account: 'other', side: 'SELL' }), order({ orderId: 's4', symbol: 'MSFT' })),
      ]);
      const restored = restoreLedgerText(ledgerSnapshotText(ledger));
      expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(ledger));
      expect(restored.lastSeq).toBe(3);
      const next = batch(order({ orderId: 's2' }), order({ orderId: 's5' }), order({ orderId: 's3' }));
      const original = applyOne(ledger, next);
      expect(applyOne(restored, next)).toEqual(original);
      expect(resultsOf(original).map((r) => [r.orderId, r.duplicate, r.seq])).toEqual([
        ['s2', true, undefined],
        ['s5', false, 4],
        ['s3', true, 2],
      ]);
      expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(ledger));
    });

    it('keeps the entry’s proposal time as each result’s executedTs: repeats, restores and old entries', () => {
      const ledger = new LedgerStateMachine();
      const [a, b, c] = ['t1', 't2', 't3'].map((orderId) => order({ orderId }));
      const first = resultsOf(applyOne(ledger, { type: 'orderBatch', orders: [a!, b!], ts: 1_000 }));
      expect(first.map((r) => r.executedTs)).toEqual([1_000, 1_000]);
      // A repeat in a later entry answers the first instant, not its own; so does a restored copy.
      const again = resultsOf(applyOne(ledger, { type: 'orderBatch', orders: [b!, c!], ts: 2_000 }));
      expect(again.map((r) => [r.orderId, r.duplicate, r.executedTs])).toEqual([
        ['t2', true, 1_000],
        ['t3', false, 2_000],
      ]);
      expect(applyOne(ledger, { type: 'order', order: a!, ts: 3_000 })).toMatchObject({ executedTs: 1_000 });
      const restored = restoreLedgerText(ledgerSnapshotText(ledger));
      expect(restored.getOrder('t3')).toEqual({ ...again[1], duplicate: false });
      // An entry from before the stamp (no ts) applies as it always did: its results have no executedTs.
      const old = applyOne(ledger, { type: 'order', order: order({ orderId: 't4' }) }) as OrderResult;
      expect(old.status).toBe('ACCEPTED');
      expect(old).not.toHaveProperty('executedTs');
      for (const ts of [-1, 1.5, '5']) {
        expect(applyOne(ledger, JSON.stringify({ type: 'order', order: order({ orderId: 't5' }), ts }))).toEqual({
          error: expect.stringContaining('ts'),
        });
      }
    });
  });

  it('checkRisk is a pure function of the order and its context', () => {
    const context = { limits: { ...DEFAULT_RISK_LIMITS }, halted: false, haltReason: null, position: 999_995 };
    expect(checkRisk(order({ quantity: 5 }), context)).toBeUndefined();
    expect(checkRisk(order({ quantity: 6 }), context)).toContain('would exceed the limit');
    expect(checkRisk(order({ quantity: 6, side: 'SELL' }), context)).toBeUndefined();
    expect(checkRisk(order(), { ...context, halted: true })).toBe('trading is halted');
  });
});

describe('LedgerStateMachine properties', () => {
  const orderArb = fc.record({
    orderId: fc.constantFrom('o1', 'o2', 'o3', 'o4', 'o5', 'o6', 'o7', 'o8', 'o9', 'o10', 'o11', 'o12'),
    account: fc.constantFrom('alice', 'bob'),
    symbol: fc.constantFrom('AAPL', 'MSFT', 'BTC-USD'),
    side: fc.constantFrom('BUY' as const, 'SELL' as const),
    quantity: fc.integer({ min: 1, max: 400 }),
    price: fc.integer({ min: 1, max: 100_000 }).map((cents) => cents / 100),
  });
  const commandArb: fc.Arbitrary<LedgerCommand | string> = fc.oneof(
    { weight: 12, arbitrary: orderArb.map((o): LedgerCommand => ({ type: 'order', order: o })) },
    {
      weight: 3,
      arbitrary: fc
        .array(orderArb, { minLength: 1, maxLength: 8 })
        .map((orders): LedgerCommand => ({ type: 'orderBatch', orders })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record(
          {
            maxOrderQuantity: fc.integer({ min: 1, max: 500 }),
            maxOrderNotional: fc.integer({ min: 1, max: 50_000 }),
            maxAbsPosition: fc.integer({ min: 1, max: 1_000 }),
          },
          { requiredKeys: [] },
        )
        .map((limits): LedgerCommand => ({ type: 'setLimits', limits })),
    },
    { weight: 1, arbitrary: fc.constant<LedgerCommand>({ type: 'halt', reason: 'test' }) },
    { weight: 1, arbitrary: fc.constant<LedgerCommand>({ type: 'resume' }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  );
  const commandsArb = fc.array(commandArb, { maxLength: 80 });

  function run(commands: readonly (LedgerCommand | string)[]): {
    ledger: LedgerStateMachine;
    results: LedgerApplyResult[];
  } {
    const ledger = new LedgerStateMachine();
    return { ledger, results: applyAll(ledger, commands) };
  }
  /** Every order's result in log order, a batch's results in its order. */
  const orderResults = (results: LedgerApplyResult[]): OrderResult[] =>
    results.flatMap((r) => ('results' in r ? r.results : 'position' in r ? [r] : []));

  it('gives accepted orders the sequence numbers 1..n with no gaps', () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        const { ledger, results } = run(commands);
        const seqs = orderResults(results)
          .filter((r) => r.status === 'ACCEPTED' && !r.duplicate)
          .map((r) => r.seq);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
        expect(ledger.lastSeq).toBe(seqs.length);
      }),
    );
  });

  it('keeps every position equal to the sum of its accepted fills, within the limit in force', () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        const { ledger, results } = run(commands);
        const sums = new Map<string, number>();
        let limits = { ...DEFAULT_RISK_LIMITS };
        for (const r of results.flatMap((x) => ('results' in x ? x.results : [x]))) {
          if ('maxAbsPosition' in r) limits = r;
          if (!('position' in r) || r.status !== 'ACCEPTED' || r.duplicate) continue;
          expect(Math.abs(r.position)).toBeLessThanOrEqual(limits.maxAbsPosition);
          expect(r.quantity).toBeLessThanOrEqual(limits.maxOrderQuantity);
          const key = `${r.account}/${r.symbol}`;
          const sum = (sums.get(key) ?? 0) + (r.side === 'BUY' ? r.quantity : -r.quantity);
          sums.set(key, sum);
          expect(r.position).toBe(sum);
        }
        expect(new Map(ledger.positions().map((p) => [`${p.account}/${p.symbol}`, p.quantity]))).toEqual(sums);
      }),
    );
  });

  it('answers every repeat of an order id with the first result marked duplicate', () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        const { ledger, results } = run(commands);
        const first = new Map<string, OrderResult>();
        for (const r of orderResults(results)) {
          const earlier = first.get(r.orderId);
          if (earlier) expect(r).toEqual({ ...earlier, duplicate: true });
          else {
            expect(r.duplicate).toBe(false);
            first.set(r.orderId, r);
          }
        }
        for (const [orderId, r] of first) expect(ledger.getOrder(orderId)).toEqual(r);
      }),
    );
  });

  it('continues identically after a snapshot and restore at any point', () => {
    fc.assert(
      fc.property(commandsArb, fc.nat(), (commands, at) => {
        const cut = commands.length === 0 ? 0 : at % (commands.length + 1);
        const whole = run(commands);
        const prefix = run(commands.slice(0, cut));
        const restored = restoreLedgerText(ledgerSnapshotText(prefix.ledger));
        expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(prefix.ledger));
        const rest = applyAll(restored, commands.slice(cut));
        expect([...prefix.results, ...rest]).toEqual(whole.results);
        expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(whole.ledger));
        expect(restored.positions()).toEqual(whole.ledger.positions());
      }),
    );
  });

  it('applies a batch exactly as its orders one entry each', () => {
    fc.assert(
      fc.property(commandsArb, (commands) => {
        const batched = run(commands);
        const unbatched = run(
          commands.flatMap((c): (LedgerCommand | string)[] =>
            typeof c !== 'string' && c.type === 'orderBatch' ? c.orders.map((o) => ({ type: 'order', order: o })) : [c],
          ),
        );
        expect(orderResults(batched.results)).toEqual(orderResults(unbatched.results));
        const { appliedIndex: _a, ...batchedState } = JSON.parse(ledgerSnapshotText(batched.ledger));
        const { appliedIndex: _b, ...unbatchedState } = JSON.parse(ledgerSnapshotText(unbatched.ledger));
        expect(batchedState).toEqual(unbatchedState);
      }),
    );
  });
});
