import fc from 'fast-check';
import {
  CursorError,
  encodeCursor,
  FINAL_RANK,
  historyItem,
  HistoryQuerySchema,
  historyRange,
  sortKey,
  statusRank,
  type HistoryEvent,
} from '../../../shared/domain/order-history';

const event: HistoryEvent = {
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

describe('order history keys and status ranks', () => {
  it('sort keys order by creation time, then order id, across every 13-digit time', () => {
    fc.assert(
      fc.property(fc.nat({ max: 9_999_999_999_999 }), fc.nat({ max: 9_999_999_999_999 }), (a, b) => {
        const [ka, kb] = [sortKey(a, 'x'), sortKey(b, 'x')];
        return a === b ? ka === kb : a < b === ka < kb;
      }),
    );
  });

  it('ranks working < ACCEPTED < final; unknown statuses count as working', () => {
    expect(statusRank('PENDING')).toBeLessThan(statusRank('ACCEPTED'));
    for (const final of ['REJECTED', 'EXECUTED', 'CANCELED']) expect(statusRank(final)).toBe(FINAL_RANK);
    expect(statusRank('SOMETHING_NEW')).toBe(statusRank('PENDING'));
  });

  it('an event becomes one item keyed by account and creation time; without an account, none', () => {
    expect(historyItem(event, 90)).toMatchObject({
      account: 'A1',
      sk: sortKey(event.commandTs, event.orderId),
      accountSymbol: 'A1#AAPL',
      statusRank: statusRank('ACCEPTED'),
      expiration: Math.floor(event.commandTs / 1000) + 90 * 86_400,
    });
    const { account: _a, ...legacy } = event;
    expect(historyItem(legacy, 90)).toBeUndefined();
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
