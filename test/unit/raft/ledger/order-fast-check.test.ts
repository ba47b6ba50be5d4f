import fc from 'fast-check';
import { isCanonicalOrder, isValidOrder, OrderInputSchema, OrderSchema } from '../../../../shared/domain/order';
import { decodeCommand, LedgerCommandSchema } from '../../../../raft-node/src/ledger/commands';

/**
 * The ledger's hand-written order checks (the hot path of applying entries and of the binary edge) must give
 * exactly the zod schemas' verdicts: generated orders mix valid values with near misses and arbitrary junk.
 */

const id = (max: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,8}$/) },
    { weight: 1, arbitrary: fc.constantFrom('.', '..', '', 'a b', 'x'.repeat(max), 'x'.repeat(max + 1), 'é') },
    { weight: 1, arbitrary: fc.anything() },
  );
const symbol = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^[A-Z0-9][A-Z0-9.\-/]{0,6}$/) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('AAPL', 'aapl', ' AAPL', 'AAPL.', 'BRK.B', '.X', 'X'.repeat(16), 'X'.repeat(17), ''),
  },
  { weight: 1, arbitrary: fc.anything() },
);
const num = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: -2, max: 1_100_000_000 }) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 1e9, 1e9 + 1, 1e12, 1e12 + 1, 2 ** 53, Number.NaN, Infinity, 0.5) },
  { weight: 1, arbitrary: fc.anything() },
);
const fields = {
  orderId: id(128),
  account: id(64),
  symbol,
  side: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('BUY', 'SELL') },
    { weight: 1, arbitrary: fc.constantFrom('buy', '') },
    { weight: 1, arbitrary: fc.anything() },
  ),
  quantity: num,
  price: num,
};
/** Mostly near-valid orders (every key present), some with missing or extra keys, some junk. */
const candidate = fc.oneof(
  { weight: 6, arbitrary: fc.record(fields) },
  { weight: 2, arbitrary: fc.record({ ...fields, extra: fc.anything() }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.anything() },
);

describe('hand-written order checks agree with the schemas', () => {
  test('the generator makes both valid and invalid orders', () => {
    const sample = fc.sample(candidate, { numRuns: 2_000, seed: 1 });
    const valid = sample.filter((v) => OrderSchema.safeParse(v).success).length;
    expect(valid).toBeGreaterThan(150);
    expect(valid).toBeLessThan(1_800);
  });

  test('isValidOrder(v) is OrderSchema’s verdict', () => {
    fc.assert(
      fc.property(candidate, (v) => isValidOrder(v) === OrderSchema.safeParse(v).success),
      { numRuns: 5_000 },
    );
  });

  test('a canonical order is what OrderInputSchema returns unchanged', () => {
    fc.assert(
      fc.property(candidate, (v) => {
        if (!isCanonicalOrder(v)) return true;
        const parsed = OrderInputSchema.safeParse(v);
        return parsed.success && JSON.stringify(parsed.data) === JSON.stringify(v);
      }),
      { numRuns: 5_000 },
    );
  });

  test('decodeCommand accepts exactly what LedgerCommandSchema accepts', () => {
    const command = fc.oneof(
      candidate.map((order) => ({ type: 'order', order })),
      fc.array(candidate, { maxLength: 3 }).map((orders) => ({ type: 'orderBatch', orders })),
      fc.anything(),
    );
    fc.assert(
      fc.property(command, (c) => {
        const data = JSON.stringify(c) ?? 'null';
        const decoded = decodeCommand(data);
        const schema = LedgerCommandSchema.safeParse(JSON.parse(data));
        return !('error' in decoded) === schema.success;
      }),
      { numRuns: 5_000 },
    );
  });
});
