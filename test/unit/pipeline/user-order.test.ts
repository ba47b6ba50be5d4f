import fc from 'fast-check';
import { OrderIdSchema } from '../../../shared/domain/order';
import {
  deriveClientOrderId,
  fingerprint,
  parseOrderRequest,
  priceOrder,
  requestConflicts,
  type OrderRequest,
} from '../../../shared/domain/user-order';

/** The pure rules of POST /orders: validation, the derived order id, IOC pricing and idempotency conflicts. */

const request = (overrides: Partial<OrderRequest> = {}): OrderRequest => ({
  clientOrderId: 'c-1',
  symbol: 'AAPL',
  side: 'BUY',
  type: 'market',
  quantity: 10,
  ...overrides,
});

describe('parseOrderRequest', () => {
  it('accepts market and limit orders, normalising the symbol', () => {
    expect(parseOrderRequest({ ...request(), symbol: ' aapl ' })).toEqual({ ok: true, value: request() });
    expect(parseOrderRequest(request({ type: 'limit', limitPrice: 10.5 }))).toMatchObject({ ok: true });
  });

  it('names every bad field at once', () => {
    const result = parseOrderRequest({ clientOrderId: 'a b', symbol: '', side: 'HOLD', type: 'limit', quantity: 0 });
    expect(result.ok).toBe(false);
    const fields = !result.ok ? result.errors.map((e) => e.field).sort() : [];
    expect(fields).toEqual(['clientOrderId', 'limitPrice', 'quantity', 'side', 'symbol']);
  });

  it('refuses a limit price on a market order, unknown fields and a non-object', () => {
    expect(parseOrderRequest(request({ limitPrice: 1 }))).toEqual({
      ok: false,
      errors: [{ field: 'limitPrice', message: 'must not be given for a market order' }],
    });
    expect(parseOrderRequest({ ...request(), price: 3 })).toMatchObject({ ok: false, errors: [{ field: '(body)' }] });
    expect(parseOrderRequest('x')).toMatchObject({ ok: false });
  });
});

describe('deriveClientOrderId', () => {
  it('is deterministic, a valid ledger order id, and never the same for two (account, clientOrderId) pairs', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b, c) => {
        const id = deriveClientOrderId(a, c);
        expect(deriveClientOrderId(a, c)).toBe(id);
        expect(OrderIdSchema.safeParse(id).success).toBe(true);
        if (a !== b) expect(deriveClientOrderId(b, c)).not.toBe(id);
        // A separator in the account cannot make two pairs meet.
        expect(deriveClientOrderId(`${a}:x`, c)).not.toBe(deriveClientOrderId(a, `x:${c}`));
      }),
    );
  });
});

describe('priceOrder', () => {
  it('fills a market order at the last price, and refuses when none is known', () => {
    expect(priceOrder(request(), 101.5)).toEqual({ ok: true, price: 101.5 });
    expect(priceOrder(request(), undefined)).toEqual({ ok: false, reason: 'no price is known for AAPL yet' });
  });

  it('fills an IOC limit at the last price when it is at or better than the limit, else it expires', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('BUY' as const, 'SELL' as const),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        (side, limit, last) => {
          const priced = priceOrder(request({ side, type: 'limit', limitPrice: limit }), last);
          const marketable = side === 'BUY' ? last <= limit : last >= limit;
          expect(priced).toEqual(
            marketable ? { ok: true, price: last } : { ok: false, reason: expect.stringContaining('cannot execute') },
          );
        },
      ),
    );
  });
});

describe('requestConflicts', () => {
  it('names the fields a reused clientOrderId changed, none for the same request', () => {
    const first = fingerprint(request({ type: 'limit', limitPrice: 5 }));
    expect(requestConflicts(first, fingerprint(request({ type: 'limit', limitPrice: 5 })))).toEqual([]);
    expect(requestConflicts(first, fingerprint(request({ quantity: 11 })))).toEqual(['type', 'quantity', 'limitPrice']);
  });
});
