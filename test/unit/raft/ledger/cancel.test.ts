import fc from 'fast-check';
import type { CancelResult, Order, OrderResult } from '../../../../shared/domain/order';
import {
  CANCELED_REASON,
  encodeCommand,
  isCommandError,
  LedgerStateMachine,
  MemoryOrderStore,
  type LedgerApplyResult,
  type LedgerCommand,
} from '../../../../raft-node/src/ledger';
import { ledgerSnapshotText, restoreLedgerText } from '../../../support/ledger-snapshot';

/** The ledger's cancel command: the race between an order and its cancel, decided by the log's order. */

function order(overrides: Partial<Order> = {}): Order {
  return { orderId: 'o-1', account: 'acct', symbol: 'AAPL', side: 'BUY', quantity: 10, price: 100, ...overrides };
}
const place = (o: Order): LedgerCommand => ({ type: 'order', order: o });
const cancel = (orderId = 'o-1', account = 'acct'): LedgerCommand => ({ type: 'cancel', orderId, account });

function applyAll(ledger: LedgerStateMachine, commands: readonly LedgerCommand[]): LedgerApplyResult[] {
  return commands.map((c) => ledger.apply(encodeCommand(c), ledger.appliedIndex + 1));
}

describe('ledger cancel', () => {
  it('a cancel before the order: a tombstone, then the order is CANCELED (not executed), and stays so', () => {
    const ledger = new LedgerStateMachine();
    const [first, arrived, redelivered, again] = applyAll(ledger, [cancel(), place(order()), place(order()), cancel()]);
    expect(first).toEqual({ orderId: 'o-1', account: 'acct', status: 'CANCELED', pending: true, duplicate: false });
    expect(arrived).toEqual({
      ...order(),
      status: 'CANCELED',
      reason: CANCELED_REASON,
      duplicate: false,
      position: 0,
    });
    expect(redelivered).toEqual({ ...(arrived as OrderResult), duplicate: true });
    expect(again).toEqual({ orderId: 'o-1', account: 'acct', status: 'CANCELED', pending: false, duplicate: true });
    expect(ledger.lastSeq).toBe(0);
    expect(ledger.positions()).toEqual([]);
  });

  it('a retried cancel before the order answers CANCELED again', () => {
    const ledger = new LedgerStateMachine();
    const [, retried] = applyAll(ledger, [cancel(), cancel()]);
    expect(retried).toEqual({ orderId: 'o-1', account: 'acct', status: 'CANCELED', pending: true, duplicate: true });
  });

  it('a cancel after the order is refused with the order status (EXECUTED = ACCEPTED, or REJECTED)', () => {
    const ledger = new LedgerStateMachine();
    const results = applyAll(ledger, [
      place(order({ orderId: 'a' })),
      place(order({ orderId: 'r', quantity: 1_000_000 })),
      cancel('a'),
      cancel('r'),
      place(order({ orderId: 'a' })),
    ]);
    expect(results[2]).toEqual({ orderId: 'a', account: 'acct', status: 'ACCEPTED', pending: false, duplicate: false });
    expect(results[3]).toMatchObject({ orderId: 'r', status: 'REJECTED', pending: false });
    expect(results[4]).toMatchObject({ orderId: 'a', status: 'ACCEPTED', seq: 1, duplicate: true });
  });

  it('refuses a cancel by another account, and another account tombstone does not cancel the order', () => {
    const ledger = new LedgerStateMachine();
    const results = applyAll(ledger, [
      place(order({ orderId: 'a' })),
      cancel('a', 'mallory'),
      cancel('b', 'mallory'),
      place(order({ orderId: 'b' })),
      cancel('c'),
      cancel('c', 'mallory'),
    ]);
    expect(results[1]).toEqual({ error: 'order a belongs to another account' });
    expect(results[2]).toMatchObject({ status: 'CANCELED', pending: true });
    expect(results[3]).toMatchObject({ orderId: 'b', status: 'ACCEPTED', seq: 2 });
    expect(results[5]).toEqual({ error: 'order c was canceled by another account' });
  });

  it('cancels one order of a batch; the others execute with gapless seqs', () => {
    const ledger = new LedgerStateMachine();
    const [, batch] = applyAll(ledger, [
      cancel('b'),
      { type: 'orderBatch', orders: ['a', 'b', 'c'].map((orderId) => order({ orderId })) },
    ]);
    const results = (batch as { results: OrderResult[] }).results;
    expect(results.map((r) => [r.orderId, r.status, r.seq])).toEqual([
      ['a', 'ACCEPTED', 1],
      ['b', 'CANCELED', undefined],
      ['c', 'ACCEPTED', 2],
    ]);
  });

  it('keeps tombstones and canceled results through a snapshot, a store reopen and a version 2 snapshot', () => {
    const store = new MemoryOrderStore();
    const ledger = new LedgerStateMachine(store);
    applyAll(ledger, [cancel('waiting'), cancel('done'), place(order({ orderId: 'done' })), place(order())]);
    const text = ledgerSnapshotText(ledger);
    expect(JSON.parse(text)).toMatchObject({ version: 3, cancels: [{ orderId: 'waiting' }, { orderId: 'done' }] });
    const restored = restoreLedgerText(text);
    expect(ledgerSnapshotText(restored)).toBe(text);
    expect(applyAll(restored, [place(order({ orderId: 'waiting' }))])[0]).toMatchObject({ status: 'CANCELED' });
    const reopened = new LedgerStateMachine(store);
    expect(applyAll(reopened, [cancel('waiting')])[0]).toMatchObject({ status: 'CANCELED', pending: true });

    const old = new LedgerStateMachine();
    applyAll(old, [place(order())]);
    const [head, ...rest] = [...old.snapshotRecords()].map((r) => JSON.parse(r) as Record<string, unknown>);
    const { cancels: _none, ...v2head } = head!;
    const loaded = LedgerStateMachine.restoreFrom([
      { ...v2head, version: 2 },
      ...rest.filter((r) => r.kind !== 'cancels'),
    ]);
    expect(loaded.getOrder('o-1')).toMatchObject({ status: 'ACCEPTED' });
  });

  describe('properties', () => {
    const ids = ['o1', 'o2', 'o3', 'o4', 'o5', 'o6'];
    const stepArb: fc.Arbitrary<LedgerCommand> = fc.oneof(
      fc
        .record({
          orderId: fc.constantFrom(...ids),
          account: fc.constantFrom('alice', 'bob'),
          quantity: fc.integer({ min: 1, max: 20_000 }),
        })
        .map(({ orderId, account, quantity }) => place(order({ orderId, account, quantity }))),
      fc
        .record({ orderId: fc.constantFrom(...ids), account: fc.constantFrom('alice', 'bob') })
        .map(({ orderId, account }) => cancel(orderId, account)),
      fc.constant<LedgerCommand>({ type: 'halt', reason: 'p' }),
      fc.constant<LedgerCommand>({ type: 'resume' }),
    );

    it('every order ends exactly one of ACCEPTED/REJECTED/CANCELED, CANCELED iff its cancel came first', () => {
      fc.assert(
        fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
          const ledger = new LedgerStateMachine();
          const results = applyAll(ledger, steps);
          /** The model: per id, the first order's result and the account of the first cancel before it. */
          const first = new Map<string, OrderResult>();
          const tombstone = new Map<string, string>();
          steps.forEach((step, i) => {
            const result = results[i]!;
            if (step.type === 'cancel') {
              const applied = first.get(step.orderId);
              const owner = applied?.account ?? tombstone.get(step.orderId) ?? step.account;
              if (owner !== step.account) return expect(isCommandError(result)).toBe(true);
              const c = result as CancelResult;
              expect(c.status).toBe(applied?.status ?? 'CANCELED');
              expect(c.pending).toBe(applied === undefined);
              if (!applied) tombstone.set(step.orderId, step.account);
            } else if (step.type === 'order') {
              const r = result as OrderResult;
              const before = first.get(step.order.orderId);
              if (before) return expect(r).toEqual({ ...before, duplicate: true });
              const canceled = tombstone.get(step.order.orderId) === step.order.account;
              expect(r.status === 'CANCELED').toBe(canceled);
              expect(r.seq !== undefined).toBe(r.status === 'ACCEPTED');
              first.set(step.order.orderId, r);
            }
          });
          for (const [id, r] of first) expect(ledger.getOrder(id)).toEqual(r);
          expect(ledgerSnapshotText(restoreLedgerText(ledgerSnapshotText(ledger)))).toBe(ledgerSnapshotText(ledger));
        }),
        { numRuns: 300 },
      );
    });

    it('replicas applying the same log agree, whatever the flush points', () => {
      fc.assert(
        fc.property(
          fc.array(stepArb, { maxLength: 40 }),
          fc.array(fc.boolean(), { maxLength: 40 }),
          (steps, flushes) => {
            const a = new LedgerStateMachine();
            const b = new LedgerStateMachine();
            steps.forEach((step, i) => {
              expect(b.apply(encodeCommand(step), i + 1)).toEqual(a.apply(encodeCommand(step), i + 1));
              if (flushes[i]) b.flush();
            });
            expect(ledgerSnapshotText(b)).toBe(ledgerSnapshotText(a));
          },
        ),
      );
    });
  });
});
