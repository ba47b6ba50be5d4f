import fc from 'fast-check';
import type { Order, OrderResult } from '../../shared/domain/order';
import { encodeCommand, LedgerStateMachine, type LedgerCommand, type OrderStore } from '../../raft-node/src/ledger';
import { ledgerSnapshotText } from './ledger-snapshot';

/**
 * The one contract both OrderStore implementations (MemoryOrderStore, SqliteOrderStore) must meet, run by a unit test
 * for the first and an integration test (it writes files) for the second. `reopen` closes a store and opens what it
 * left behind: the state a restarted node resumes from.
 */
export interface StoreFactory {
  create(): OrderStore;
  reopen(store: OrderStore): OrderStore;
}

const state = (appliedIndex: number, lastSeq = 0) => ({
  appliedIndex,
  lastSeq,
  limits: {
    maxOrderQuantity: 1_000,
    maxOrderNotional: 1_000_000,
    maxAbsPosition: 10_000,
    minPrice: 0.01,
    minOrderNotional: 0,
  },
  halted: false,
  haltReason: null,
});

function result(orderId: string, seq: number): OrderResult {
  return {
    orderId,
    account: 'acct',
    symbol: 'AAPL',
    side: 'BUY',
    quantity: 1,
    price: 10,
    status: 'ACCEPTED',
    seq,
    duplicate: false,
    position: seq,
  };
}

const orderArb: fc.Arbitrary<Order> = fc.record({
  orderId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'),
  account: fc.constantFrom('acct-1', 'acct-2'),
  symbol: fc.constantFrom('AAPL', 'MSFT'),
  side: fc.constantFrom('BUY' as const, 'SELL' as const),
  quantity: fc.integer({ min: 1, max: 600 }),
  price: fc.constantFrom(1, 10, 100),
});

const stepArb = fc.oneof(
  orderArb.map((order): LedgerCommand => ({ type: 'order', order })),
  fc.array(orderArb, { minLength: 1, maxLength: 4 }).map((orders): LedgerCommand => ({ type: 'orderBatch', orders })),
  fc.constant<LedgerCommand>({ type: 'halt', reason: 'stop' }),
  fc.constant<LedgerCommand>({ type: 'resume' }),
  fc.constant<LedgerCommand>({ type: 'setLimits', limits: { maxAbsPosition: 800 } }),
  fc
    .record({ orderId: orderArb.map((o) => o.orderId), account: orderArb.map((o) => o.account) })
    .map((c): LedgerCommand => ({ type: 'cancel', ...c })),
);

export function describeOrderStoreContract(name: string, factory: StoreFactory): void {
  describe(`OrderStore contract: ${name}`, () => {
    it('starts empty', () => {
      const store = factory.create();
      expect(store.load()).toBeUndefined();
      expect(store.getOrder('x')).toBeUndefined();
      expect(store.orderCount()).toBe(0);
      expect([...store.orders()]).toEqual([]);
      store.close();
    });

    it('keeps committed results, positions (in first-insertion order) and state across a reopen', () => {
      let store = factory.create();
      store.commit({
        orders: [result('b', 1), result('a', 2)],
        positions: [
          { account: 'z', symbol: 'S', quantity: 1 },
          { account: 'a', symbol: 'S', quantity: 2 },
        ],
        cancels: [{ orderId: 'x', account: 'acct' }],
        state: state(3, 2),
      });
      store.commit({
        orders: [result('c', 3)],
        cancels: [{ orderId: 'w', account: 'other' }],
        positions: [{ account: 'z', symbol: 'S', quantity: 7 }],
        state: state(5, 3),
      });
      store = factory.reopen(store);
      expect(store.load()).toEqual({
        state: state(5, 3),
        positions: [
          { account: 'z', symbol: 'S', quantity: 7 },
          { account: 'a', symbol: 'S', quantity: 2 },
        ],
      });
      expect(store.getOrder('a')).toEqual(result('a', 2));
      expect(store.orderCount()).toBe(3);
      expect([...store.orders()].map((r) => r.orderId)).toEqual(['b', 'a', 'c']);
      expect(store.getCancel('x')).toBe('acct');
      expect(store.getCancel('a')).toBeUndefined();
      expect(store.cancelCount()).toBe(2);
      expect([...store.cancels()]).toEqual([
        { orderId: 'x', account: 'acct' },
        { orderId: 'w', account: 'other' },
      ]);
      store.close();
    });

    it('refuses a batch that repeats a stored order id, and keeps nothing of it', () => {
      const store = factory.create();
      store.commit({ orders: [result('a', 1)], cancels: [], positions: [], state: state(1, 1) });
      expect(() =>
        store.commit({
          orders: [result('new', 2), result('a', 3)],
          cancels: [],
          positions: [{ account: 'x', symbol: 'S', quantity: 1 }],
          state: state(2, 3),
        }),
      ).toThrow();
      expect(store.getOrder('new')).toBeUndefined();
      expect(store.load()).toEqual({ state: state(1, 1), positions: [] });
      store.close();
    });

    it('refuses a batch that repeats a stored cancel, and keeps nothing of it', () => {
      const store = factory.create();
      store.commit({ orders: [], cancels: [{ orderId: 'a', account: 'x' }], positions: [], state: state(1) });
      expect(() =>
        store.commit({
          orders: [result('new', 1)],
          cancels: [{ orderId: 'a', account: 'x' }],
          positions: [],
          state: state(2, 1),
        }),
      ).toThrow();
      expect(store.getOrder('new')).toBeUndefined();
      expect(store.cancelCount()).toBe(1);
      store.close();
    });

    it('gives a ledger over it the same answers and state as the in-memory ledger, flushed and reopened anywhere', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(stepArb, fc.constantFrom('none', 'flush', 'reopen')), { maxLength: 40 }),
          (steps) => {
            const reference = new LedgerStateMachine();
            let store = factory.create();
            let ledger = new LedgerStateMachine(store);
            steps.forEach(([command, after], i) => {
              const data = encodeCommand(command);
              expect(ledger.apply(data, i + 1)).toEqual(reference.apply(data, i + 1));
              if (after === 'flush') ledger.flush();
              if (after === 'reopen') {
                ledger.flush();
                store = factory.reopen(store);
                ledger = new LedgerStateMachine(store);
              }
            });
            expect(ledgerSnapshotText(ledger)).toBe(ledgerSnapshotText(reference));
            ledger.close();
          },
        ),
        { numRuns: 60 },
      );
    });
  });
}
