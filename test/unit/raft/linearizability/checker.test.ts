import fc from 'fast-check';
import type { CancelResult, Order, OrderBatchResult, OrderResult } from '../../../../shared/domain/order';
import { encodeCommand, LedgerStateMachine, type LedgerCommand } from '../../../../raft-node/src/ledger';
import {
  checkLinearizability,
  checkSeqs,
  ledgerModel,
  type LedgerInput,
  type LedgerOutput,
  type Model,
  type Operation,
} from '../../../support/linearizability';

// A read/write register: the textbook model, to check the search itself.
type RegisterInput = { kind: 'write'; value: number } | { kind: 'read' };
const registerModel: Model<number, RegisterInput, number | null> = {
  init: () => 0,
  step: (state, input, output) =>
    input.kind === 'write' ? { ok: true, state: input.value } : { ok: output === undefined || output === state, state },
  hash: (state) => String(state),
  readOnly: (input) => input.kind === 'read',
};

let nextId = 0;
function op<I, O>(
  clientId: number,
  input: I,
  invokeTime: number,
  completeTime: number | undefined,
  output?: O,
): Operation<I, O> {
  nextId += 1;
  return { id: nextId, clientId, input, output, invokeTime, completeTime };
}
const write = (client: number, value: number, from: number, to?: number) =>
  op<RegisterInput, number | null>(client, { kind: 'write', value }, from, to, null);
const read = (client: number, value: number, from: number, to?: number) =>
  op<RegisterInput, number | null>(client, { kind: 'read' }, from, to, to === undefined ? undefined : value);

describe('checkLinearizability on a register', () => {
  it('accepts a sequential history and overlapping operations in either order', () => {
    expect(checkLinearizability(registerModel, [write(1, 1, 0, 1), read(2, 1, 2, 3)]).verdict).toBe('linearizable');
    // The read overlaps the write: it may see the old or the new value.
    expect(checkLinearizability(registerModel, [write(1, 1, 0, 10), read(2, 0, 1, 2)]).verdict).toBe('linearizable');
    expect(checkLinearizability(registerModel, [write(1, 1, 0, 10), read(2, 1, 1, 2)]).verdict).toBe('linearizable');
  });

  it('rejects a stale read after a completed write', () => {
    const result = checkLinearizability(registerModel, [write(1, 1, 0, 1), read(2, 0, 2, 3)]);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.failingPartition).toHaveLength(2);
  });

  it('rejects a new value followed by the old one, even while the write is still running', () => {
    const history = [write(1, 1, 0, 100), read(2, 1, 10, 20), read(3, 0, 30, 40)];
    expect(checkLinearizability(registerModel, history).verdict).toBe('not-linearizable');
  });

  it('lets a timed-out write take effect late, or never, but not both', () => {
    expect(checkLinearizability(registerModel, [write(1, 7, 0), read(2, 7, 50, 60)]).verdict).toBe('linearizable');
    expect(checkLinearizability(registerModel, [write(1, 7, 0), read(2, 0, 50, 60)]).verdict).toBe('linearizable');
    expect(checkLinearizability(registerModel, [write(1, 7, 0), read(2, 7, 50, 60), read(2, 0, 70, 80)]).verdict).toBe(
      'not-linearizable',
    );
    // A timed-out write cannot take effect before it was invoked.
    expect(checkLinearizability(registerModel, [read(2, 7, 0, 10), write(1, 7, 20)]).verdict).toBe('not-linearizable');
  });

  it('refuses an operation whose completion precedes its invocation', () => {
    expect(() => checkLinearizability(registerModel, [write(1, 1, 10, 5)])).toThrow('is before invokeTime 10');
  });

  it('gives up with verdict unknown when the step budget runs out', () => {
    const history = Array.from({ length: 12 }, (_, i) => write(i, i, 0, 100));
    history.push(read(99, 3, 200, 201));
    const result = checkLinearizability(registerModel, history, { maxStepsPerPartition: 5 });
    expect(result.verdict).toBe('unknown');
  });
});

/** Linearizable iff some order of the completed operations plus any subset of the timed-out ones fits. */
function bruteForce(history: readonly Operation<RegisterInput, number | null>[]): boolean {
  const end = (o: Operation<RegisterInput, number | null>) => o.completeTime ?? Infinity;
  const completed = history.filter((o) => end(o) !== Infinity);
  const timedOut = history.filter((o) => end(o) === Infinity);
  const search = (remaining: Operation<RegisterInput, number | null>[], state: number): boolean => {
    if (remaining.length === 0) return true;
    return remaining.some((candidate) => {
      // It can go next only if nothing left had already completed before it was invoked.
      if (remaining.some((other) => other !== candidate && end(other) < candidate.invokeTime)) return false;
      const step = registerModel.step(
        state,
        candidate.input,
        end(candidate) === Infinity ? undefined : candidate.output,
      );
      return (
        step.ok &&
        search(
          remaining.filter((o) => o !== candidate),
          step.state,
        )
      );
    });
  };
  for (let mask = 0; mask < 1 << timedOut.length; mask += 1) {
    const included = timedOut.filter((_, i) => (mask & (1 << i)) !== 0);
    if (search([...completed, ...included], registerModel.init())) return true;
  }
  return false;
}

describe('checkLinearizability against a brute-force search', () => {
  it('agrees on random small register histories', () => {
    const seen = new Set<string>();
    const opArb = fc.record({
      isWrite: fc.boolean(),
      value: fc.integer({ min: 0, max: 2 }),
      invokeTime: fc.integer({ min: 0, max: 20 }),
      duration: fc.integer({ min: 0, max: 10 }),
      timedOut: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    });
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 6 }), (ops) => {
        const history = ops.map((o, i) =>
          op<RegisterInput, number | null>(
            i,
            o.isWrite ? { kind: 'write', value: o.value } : { kind: 'read' },
            o.invokeTime,
            o.timedOut ? undefined : o.invokeTime + o.duration,
            o.isWrite ? null : o.value,
          ),
        );
        const expected = bruteForce(history) ? 'linearizable' : 'not-linearizable';
        seen.add(expected);
        expect(checkLinearizability(registerModel, history).verdict).toBe(expected);
      }),
      { numRuns: 500 },
    );
    // Both verdicts came up, so the comparison meant something.
    expect(seen.size).toBe(2);
  });
});

// The ledger model, per order id.
function order(orderId: string, quantity = 10): Order {
  return { orderId, account: 'acct', symbol: 'AAPL', side: 'BUY', quantity, price: 5 };
}
function accepted(o: Order, seq: number, duplicate = false, position = o.quantity): OrderResult {
  return { ...o, status: 'ACCEPTED', seq, duplicate, position };
}
const apply = (client: number, o: Order, from: number, to?: number, output?: OrderResult) =>
  op<LedgerInput, LedgerOutput>(client, { kind: 'applyOrder', order: o }, from, to, output);
const get = (client: number, orderId: string, from: number, to: number, output: OrderResult | null) =>
  op<LedgerInput, LedgerOutput>(client, { kind: 'getOrder', orderId }, from, to, output);
/** A write's order ids; given its output, only those it reports as first applied (duplicate: false). */
function answeredIds(input: LedgerInput, output: LedgerOutput | undefined): string[] {
  if (input.kind === 'getOrder' || input.kind === 'cancel') return [];
  const orders = input.kind === 'applyOrder' ? [input.order] : input.orders;
  if (output === undefined) return orders.map((o) => o.orderId);
  const results = output === null ? [] : Array.isArray(output) ? output : [output];
  return results.filter((r) => !r.duplicate).map((r) => r.orderId);
}
const verdictOf = (history: Operation<LedgerInput, LedgerOutput>[]) =>
  checkLinearizability(ledgerModel, history).verdict;

describe('ledgerModel', () => {
  const a = order('a');
  const resultA = accepted(a, 1);

  it('accepts an application followed by reads and a duplicate of the same result', () => {
    expect(
      verdictOf([
        apply(1, a, 0, 10, resultA),
        get(2, 'a', 20, 30, resultA),
        apply(3, a, 40, 50, { ...resultA, duplicate: true }),
      ]),
    ).toBe('linearizable');
  });

  it('rejects a stale read: not found after the application was acknowledged', () => {
    expect(verdictOf([apply(1, a, 0, 10, resultA), get(2, 'a', 20, 30, null)])).toBe('not-linearizable');
    // Overlapping the application, not found is fine.
    expect(verdictOf([apply(1, a, 0, 10, resultA), get(2, 'a', 5, 30, null)])).toBe('linearizable');
  });

  it('rejects a lost write: the id applied a second time, or read back with another result', () => {
    expect(verdictOf([apply(1, a, 0, 10, resultA), apply(2, a, 20, 30, accepted(a, 2))])).toBe('not-linearizable');
    expect(verdictOf([apply(1, a, 0, 10, resultA), get(2, 'a', 20, 30, accepted(a, 9))])).toBe('not-linearizable');
    // Two concurrent first applications of one id: only one can be first.
    expect(verdictOf([apply(1, a, 0, 10, resultA), apply(2, a, 0, 10, accepted(a, 2))])).toBe('not-linearizable');
    expect(verdictOf([apply(1, a, 0, 10, resultA), apply(2, a, 0, 10, { ...resultA, duplicate: true })])).toBe(
      'linearizable',
    );
  });

  it('rejects a duplicate answer for an id never applied, and a result for another order', () => {
    expect(verdictOf([apply(1, a, 0, 10, { ...resultA, duplicate: true })])).toBe('not-linearizable');
    expect(verdictOf([apply(1, a, 0, 10, accepted(order('a', 99), 1))])).toBe('not-linearizable');
  });

  it('lets a timed-out application have taken effect (read back, or answered as duplicate on retry)', () => {
    expect(verdictOf([apply(1, a, 0), get(1, 'a', 100, 110, resultA)])).toBe('linearizable');
    expect(verdictOf([apply(1, a, 0), apply(1, a, 100, 110, { ...resultA, duplicate: true })])).toBe('linearizable');
    // Its result is unknown until observed, then fixed.
    expect(verdictOf([apply(1, a, 0), get(1, 'a', 100, 110, resultA), get(2, 'a', 120, 130, accepted(a, 2))])).toBe(
      'not-linearizable',
    );
  });

  it('lets a timed-out application have had no effect, but not appear and then vanish', () => {
    expect(verdictOf([apply(1, a, 0), get(1, 'a', 100, 110, null), apply(1, a, 120, 130, resultA)])).toBe(
      'linearizable',
    );
    expect(verdictOf([apply(1, a, 0), get(1, 'a', 100, 110, resultA), get(2, 'a', 120, 130, null)])).toBe(
      'not-linearizable',
    );
  });

  it('checks each order id on its own', () => {
    const b = order('b');
    const result = checkLinearizability(ledgerModel, [
      apply(1, a, 0, 10, resultA),
      apply(2, b, 0, 10, accepted(b, 2)),
      get(3, 'b', 20, 30, null),
    ]);
    expect(result).toMatchObject({ verdict: 'not-linearizable', partitions: 2 });
    expect(result.failingPartition?.every((o) => o.input.kind !== 'applyOrder' || o.input.order.orderId === 'b')).toBe(
      true,
    );
  });
});

describe('ledgerModel with cancels', () => {
  const a = order('a');
  const cancelOp = (client: number, from: number, to?: number, output?: CancelResult) =>
    op<LedgerInput, LedgerOutput>(client, { kind: 'cancel', orderId: 'a', account: 'acct' }, from, to, output);
  const answer = (status: CancelResult['status'], pending: boolean, duplicate: boolean): CancelResult => ({
    orderId: 'a',
    account: 'acct',
    status,
    pending,
    duplicate,
  });
  const canceledA: OrderResult = { ...a, status: 'CANCELED', reason: 'x', duplicate: false, position: 0 };

  it('accepts either winner of a race, and the answers that follow from it', () => {
    // The cancel first: a tombstone, then the order is CANCELED, a later cancel answers CANCELED again.
    expect(
      verdictOf([
        cancelOp(1, 0, 10, answer('CANCELED', true, false)),
        apply(2, a, 0, 10, canceledA),
        cancelOp(1, 20, 30, answer('CANCELED', false, true)),
        get(3, 'a', 40, 50, canceledA),
      ]),
    ).toBe('linearizable');
    // The order first: executed, the cancel answers its status.
    expect(verdictOf([cancelOp(1, 0, 10, answer('ACCEPTED', false, false)), apply(2, a, 0, 10, accepted(a, 1))])).toBe(
      'linearizable',
    );
  });

  it('rejects both outcomes, and an order executed after its cancel was acknowledged', () => {
    expect(verdictOf([cancelOp(1, 0, 10, answer('CANCELED', true, false)), apply(2, a, 0, 10, accepted(a, 1))])).toBe(
      'not-linearizable',
    );
    expect(verdictOf([cancelOp(1, 0, 10, answer('CANCELED', true, false)), apply(2, a, 20, 30, accepted(a, 1))])).toBe(
      'not-linearizable',
    );
    // A CANCELED result with no cancel before it.
    expect(verdictOf([apply(2, a, 0, 10, canceledA)])).toBe('not-linearizable');
    // A tombstone is not an order: reading it back finds nothing.
    expect(verdictOf([cancelOp(1, 0, 10, answer('CANCELED', true, false)), get(2, 'a', 20, 30, canceledA)])).toBe(
      'not-linearizable',
    );
  });

  it('lets a timed-out cancel have left its tombstone or not, but decides the order by it', () => {
    expect(verdictOf([cancelOp(1, 0), apply(2, a, 100, 110, canceledA)])).toBe('linearizable');
    expect(verdictOf([cancelOp(1, 0), apply(2, a, 100, 110, accepted(a, 1))])).toBe('linearizable');
    expect(
      verdictOf([
        cancelOp(1, 0),
        apply(2, a, 100, 110, accepted(a, 1)),
        cancelOp(1, 120, 130, answer('CANCELED', false, true)),
      ]),
    ).toBe('not-linearizable');
  });
});

describe('ledgerModel with batches', () => {
  const a = order('a');
  const b = order('b');
  const c = order('c');
  const batch = (client: number, orders: Order[], from: number, to?: number, output?: OrderResult[]) =>
    op<LedgerInput, LedgerOutput>(client, { kind: 'applyBatch', orders }, from, to, output);
  const ab = [accepted(a, 1), accepted(b, 2, false, 20)];

  it('accepts a batch, reads of its orders, and a resent batch answered as duplicates', () => {
    expect(
      verdictOf([
        batch(1, [a, b], 0, 10, ab),
        get(2, 'b', 20, 30, ab[1]!),
        batch(1, [a, b, c], 40, 50, [{ ...ab[0]!, duplicate: true }, { ...ab[1]!, duplicate: true }, accepted(c, 3)]),
      ]),
    ).toBe('linearizable');
  });

  it('answers a repeat within the batch with the first result, and nothing else', () => {
    const again = order('a', 99);
    expect(verdictOf([batch(1, [a, again], 0, 10, [accepted(a, 1), { ...accepted(a, 1), duplicate: true }])])).toBe(
      'linearizable',
    );
    expect(verdictOf([batch(1, [a, again], 0, 10, [accepted(a, 1), accepted(again, 2)])])).toBe('not-linearizable');
    expect(verdictOf([batch(1, [a, b], 0, 10, [accepted(a, 1)])])).toBe('not-linearizable');
  });

  it('finds a torn batch that per-order checking of N same-interval operations would pass', () => {
    // While the batch runs, one reader sees b applied; a reader starting after that does not see a.
    const torn = [batch(1, [a, b], 0, 100, ab), get(2, 'b', 10, 20, ab[1]!), get(3, 'a', 30, 40, null)];
    expect(checkLinearizability(ledgerModel, torn)).toMatchObject({ verdict: 'not-linearizable', partitions: 1 });
    const split = [apply(1, a, 0, 100, ab[0]), apply(1, b, 0, 100, ab[1]), ...torn.slice(1)];
    expect(checkLinearizability(ledgerModel, split)).toMatchObject({ verdict: 'linearizable', partitions: 2 });
    // A timed-out batch is atomic too: applied at one instant or not at all.
    expect(verdictOf([batch(1, [a, b], 0), get(2, 'b', 10, 20, ab[1]!), get(3, 'a', 30, 40, null)])).toBe(
      'not-linearizable',
    );
    expect(verdictOf([batch(1, [a, b], 0), get(2, 'b', 10, 20, null), get(3, 'a', 30, 40, ab[0]!)])).toBe(
      'linearizable',
    );
  });

  it('partitions by the ids batches link together, single ids still on their own', () => {
    const result = checkLinearizability(ledgerModel, [
      batch(1, [a, b], 0, 10, ab),
      get(2, 'c', 20, 30, null),
      apply(3, c, 40, 50, accepted(c, 3)),
      get(2, 'a', 60, 70, ab[0]!),
    ]);
    expect(result).toMatchObject({ verdict: 'linearizable', partitions: 2 });
  });

  it('checkSeqs: a batch takes consecutive seqs in its order, its duplicates aside', () => {
    const dupC = { ...accepted(c, 1), duplicate: true };
    const good = batch(1, [a, c, b], 10, 20, [accepted(a, 2), dupC, accepted(b, 3, false, 20)]);
    const final = [
      { orderId: 'c', seq: 1 },
      { orderId: 'a', seq: 2 },
      { orderId: 'b', seq: 3 },
    ];
    expect(checkSeqs([apply(2, c, 0, 5, accepted(c, 1)), good], final)).toEqual({ ok: true, problems: [] });
    const gap = batch(1, [a, b], 10, 20, [accepted(a, 1), accepted(b, 3, false, 20)]);
    const swapped = batch(1, [a, b], 10, 20, [accepted(a, 2), accepted(b, 1, false, 20)]);
    expect(checkSeqs([gap]).problems).toEqual([
      `operation ${gap.id}: the batch's new acceptances have seqs 1, 3, not consecutive in its order`,
    ]);
    expect(checkSeqs([swapped]).problems).toEqual([
      `operation ${swapped.id}: the batch's new acceptances have seqs 2, 1, not consecutive in its order`,
    ]);
  });
});

describe('checkSeqs', () => {
  const a = order('a');
  const b = order('b');

  it('accepts distinct, real-time ordered seqs matching a gapless final ledger', () => {
    const history = [apply(1, a, 0, 10, accepted(a, 1)), apply(2, b, 20, 30, accepted(b, 2)), apply(3, a, 0)];
    expect(
      checkSeqs(history, [
        { orderId: 'a', seq: 1 },
        { orderId: 'b', seq: 2 },
      ]),
    ).toEqual({ ok: true, problems: [] });
  });

  it('finds one seq given to two orders and one order with two seqs', () => {
    const check = checkSeqs([
      apply(1, a, 0, 10, accepted(a, 1)),
      apply(2, b, 0, 10, accepted(b, 1)),
      get(3, 'a', 20, 30, accepted(a, 3)),
    ]);
    expect(check.problems).toEqual([
      'seq 1 was given to both a and b',
      'order a was reported with seq 1 and with seq 3',
    ]);
  });

  it('finds a seq lower than one already answered before the order was sent', () => {
    const first = apply(1, a, 0, 10, accepted(a, 2));
    const second = apply(2, b, 20, 30, accepted(b, 1));
    expect(checkSeqs([first, second]).problems).toEqual([
      `operation ${second.id} got seq 1 although operation ${first.id} had already been answered with seq 2`,
    ]);
    // Overlapping applications may take their seqs in either order.
    expect(checkSeqs([apply(1, a, 0, 10, accepted(a, 2)), apply(2, b, 5, 30, accepted(b, 1))]).ok).toBe(true);
  });

  it('finds gaps in the final ledger and acknowledged orders missing from it', () => {
    const rejectedB: OrderResult = { ...b, status: 'REJECTED', reason: 'limit', duplicate: false, position: 0 };
    const history = [apply(1, a, 0, 10, accepted(a, 1)), apply(2, b, 20, 30, rejectedB)];
    expect(checkSeqs(history, [{ orderId: 'b', seq: 2 }]).problems).toEqual([
      'final ledger: seqs are not 1..1: seq 1 is missing or repeated',
      'order a was acknowledged with seq 1 but the final ledger has no such order',
      'order b was reported rejected but the final ledger accepted it',
    ]);
  });
});

/**
 * A history that is linearizable by construction: each operation takes effect at a random instant inside its
 * interval, on a real ledger; some answers are lost (timed out), whether or not the operation took effect.
 */
function generateHistory(seed: number, operations: number, clients: number, orderIds: number, batches = false) {
  const stepArb = fc.record({
    client: fc.integer({ min: 0, max: clients - 1 }),
    think: fc.integer({ min: 0, max: 5 }),
    duration: fc.integer({ min: 1, max: 40 }),
    orderNumber: fc.integer({ min: 1, max: orderIds }),
    isRead: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
    /** More order ids for a batch (with the first, possibly repeated); none: a single order. */
    batchMore: batches
      ? fc.oneof(
          { weight: 3, arbitrary: fc.constant<number[]>([]) },
          { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: orderIds }), { minLength: 1, maxLength: 4 }) },
        )
      : fc.constant<number[]>([]),
    quantity: fc.integer({ min: 1, max: 50 }),
    timedOut: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
    tookEffectAnyway: fc.boolean(),
    effectFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  });
  const [steps] = fc.sample(fc.array(stepArb, { minLength: operations, maxLength: operations }), { seed, numRuns: 1 });
  type Planned = { op: Operation<LedgerInput, LedgerOutput>; effectAt: number | null; timedOut: boolean };
  const clock = Array.from({ length: clients }, () => 0);
  const planned: Planned[] = (steps ?? []).map((step, i) => {
    const invokeTime = (clock[step.client] as number) + step.think;
    const completeTime = invokeTime + step.duration;
    clock[step.client] = completeTime;
    const orderId = `o${step.orderNumber}`;
    const batch = [order(orderId, step.quantity), ...step.batchMore.map((n) => order(`o${n}`, step.quantity))];
    const input: LedgerInput = step.isRead
      ? { kind: 'getOrder', orderId }
      : step.batchMore.length > 0
        ? { kind: 'applyBatch', orders: batch }
        : { kind: 'applyOrder', order: batch[0]! };
    const tookEffect = !step.timedOut || step.tookEffectAnyway;
    return {
      op: { id: i, clientId: step.client, input, invokeTime, completeTime: step.timedOut ? undefined : completeTime },
      effectAt: tookEffect ? invokeTime + step.effectFraction * step.duration : null,
      timedOut: step.timedOut,
    };
  });
  const ledger = new LedgerStateMachine();
  for (const p of planned
    .filter((p) => p.effectAt !== null)
    .sort((x, y) => (x.effectAt as number) - (y.effectAt as number))) {
    const { input } = p.op;
    const applied = (command: LedgerCommand) => ledger.apply(encodeCommand(command), ledger.appliedIndex + 1);
    const output =
      input.kind === 'getOrder'
        ? (ledger.getOrder(input.orderId) ?? null)
        : input.kind === 'applyOrder'
          ? (applied({ type: 'order', order: input.order }) as OrderResult)
          : input.kind === 'cancel'
            ? (applied({ type: 'cancel', orderId: input.orderId, account: input.account }) as CancelResult)
            : (applied({ type: 'orderBatch', orders: input.orders }) as OrderBatchResult).results;
    if (!p.timedOut) p.op.output = output;
  }
  return { history: planned.map((p) => p.op), ledger };
}

describe('checker on generated histories', () => {
  /** The history is linearizable (found quickly), its seqs match the final ledger, and an injected stale read is not. */
  function checkGenerated(history: Operation<LedgerInput, LedgerOutput>[], ledger: LedgerStateMachine): void {
    const started = Date.now();
    const result = checkLinearizability(ledgerModel, history);
    expect(result.verdict).toBe('linearizable');
    expect(Date.now() - started).toBeLessThan(2_000);
    const appliedIds = new Set(history.flatMap((o) => answeredIds(o.input, undefined)));
    // Every order the ledger holds was applied by some operation of the history.
    const finalAccepted = [...appliedIds]
      .map((orderId) => ledger.getOrder(orderId))
      .filter((r): r is OrderResult => r?.status === 'ACCEPTED')
      .map((r) => ({ orderId: r.orderId, seq: r.seq as number }));
    expect(finalAccepted).toHaveLength(ledger.lastSeq);
    expect(checkSeqs(history, finalAccepted)).toEqual({ ok: true, problems: [] });

    // Break it: a read that says "not found" although an application of the order was acknowledged before.
    const acknowledged = history.find((o) => o.output !== undefined && answeredIds(o.input, o.output).length > 0)!;
    const orderId = answeredIds(acknowledged.input, acknowledged.output)[0]!;
    const stale: Operation<LedgerInput, LedgerOutput> = {
      id: 'stale',
      clientId: 99,
      input: { kind: 'getOrder', orderId },
      output: null,
      invokeTime: (acknowledged.completeTime as number) + 1,
      completeTime: (acknowledged.completeTime as number) + 2,
    };
    expect(checkLinearizability(ledgerModel, [...history, stale]).verdict).toBe('not-linearizable');
  }

  it('checks a few hundred concurrent operations quickly and finds an injected stale read', () => {
    for (const seed of [1, 2, 3]) {
      const { history, ledger } = generateHistory(seed, 400, 8, 60);
      checkGenerated(history, ledger);
    }
  });

  it("does the same with batches linking order ids, at the simulation's concurrency", () => {
    for (const seed of [4, 5, 6]) {
      const { history, ledger } = generateHistory(seed, 150, 3, 60, true);
      expect(history.some((o) => o.input.kind === 'applyBatch')).toBe(true);
      checkGenerated(history, ledger);
    }
  });

  it('refutes a long contended history quickly: a stale read after hundreds of concurrent reads', () => {
    const x = order('x');
    const recorded = accepted(x, 1);
    const history = [apply(0, x, 0, 1, recorded)];
    for (let i = 0; i < 600; i += 1) {
      const client = i % 8;
      const invokeTime = 2 + Math.floor(i / 8) * 5 + client;
      history.push(get(client, 'x', invokeTime, invokeTime + 20, recorded));
    }
    history.push(get(99, 'x', 10_000, 10_001, null));
    const started = Date.now();
    expect(checkLinearizability(ledgerModel, history).verdict).toBe('not-linearizable');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('handles one heavily contended order id', () => {
    const { history } = generateHistory(7, 300, 12, 1);
    const result = checkLinearizability(ledgerModel, history);
    expect(result).toMatchObject({ verdict: 'linearizable', partitions: 1 });
  });
});
