import fc from 'fast-check';
import {
  CursorError,
  encodeCursor,
  historyKeys,
  HistoryQuerySchema,
  historyRange,
  historyView,
  sortKey,
} from '../../../shared/domain/order-history';
import type { OrderEvent } from '../../../shared/domain/event';

const event: OrderEvent = {
  orderId: 'AAPL:t-1:0',
  status: 'ACCEPTED',
  seq: 7,
  reason: null,
  account: 'A1',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 3,
  price: 10,
  position: 3,
  tickTs: 1_767_225_600_000,
  commandTs: 1_767_225_600_010,
  executedTs: 1_767_225_600_020,
  correlationId: 't-1',
};
const query = (raw: Record<string, string>) => HistoryQuerySchema.parse(raw);

describe('order history keys and view', () => {
  it('sort keys order by creation time, then order id, across every 13-digit time', () => {
    fc.assert(
      fc.property(fc.nat({ max: 9_999_999_999_999 }), fc.nat({ max: 9_999_999_999_999 }), (a, b) => {
        const [ka, kb] = [sortKey(a, 'x'), sortKey(b, 'x')];
        return a === b ? ka === kb : a < b === ka < kb;
      }),
    );
  });

  it("an event's record is indexed by account and creation time; without an account, not at all", () => {
    expect(historyKeys(event)).toEqual({
      account: 'A1',
      sk: sortKey(event.commandTs, event.orderId),
      accountSymbol: 'A1#AAPL',
    });
    const { account: _a, ...legacy } = event;
    expect(historyKeys(legacy)).toBeUndefined();
  });

  it('shows an order in the API words: ACCEPTED is EXECUTED, created and updated times from the event', () => {
    expect(historyView({ ...event, account: 'A1' })).toEqual({
      account: 'A1',
      orderId: event.orderId,
      symbol: 'AAPL',
      side: 'BUY',
      qty: 3,
      price: 10,
      status: 'EXECUTED',
      reason: null,
      seq: 7,
      createdTs: event.commandTs,
      updatedTs: event.executedTs,
      correlationId: 't-1',
    });
  });
});

describe('history cursors', () => {
  it('refuses a cursor of this query that points outside its range', () => {
    const range = historyRange('A1', query({ to: '1767225600000' }));
    const outside = encodeCursor(range, sortKey(1_767_225_600_001, 'x'));
    expect(() => historyRange('A1', query({ to: '1767225600000', cursor: outside }))).toThrow(/outside/);
    expect(() => historyRange('A1', query({ cursor: `${encodeCursor(range, range.fromSk)}x` }))).toThrow(CursorError);
  });

  it('a cursor continues only the query it came from', () => {
    const range = historyRange('A1', query({ symbol: 'AAPL', limit: '2' }));
    const cursor = encodeCursor(range, sortKey(event.commandTs, event.orderId));
    expect(historyRange('A1', query({ symbol: 'AAPL', limit: '5', cursor })).after).toBe(
      sortKey(event.commandTs, event.orderId),
    );
    expect(() => historyRange('A2', query({ symbol: 'AAPL', cursor }))).toThrow(CursorError);
    expect(() => historyRange('A1', query({ cursor }))).toThrow(CursorError);
    expect(() => historyRange('A1', query({ symbol: 'AAPL', from: '1', cursor }))).toThrow(CursorError);
  });

  it('any change to a cursor is refused', () => {
    const range = historyRange('A1', query({}));
    const cursor = encodeCursor(range, sortKey(event.commandTs, event.orderId));
    fc.assert(
      fc.property(fc.nat({ max: cursor.length - 1 }), fc.constantFrom(...'ABCxyz019-_'), (at, ch) => {
        const changed = cursor.slice(0, at) + ch + cursor.slice(at + 1);
        fc.pre(changed !== cursor);
        expect(() => historyRange('A1', query({ cursor: changed }))).toThrow(CursorError);
      }),
    );
  });
});
