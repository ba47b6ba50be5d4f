import type { OrderEvent } from '../../../shared/domain/event';
import { checkExecutions, tallyEvents } from '../../../tools/lib/event-tally';

// verify's duplicate rule (docs/architecture.md#where-the-argument-stops): one execution per order id is one
// (orderId, seq); a re-publish of that execution after the FIFO dedup window is allowed and counted apart.
const event = (over: Partial<OrderEvent> = {}): OrderEvent => ({
  orderId: 'AAPL-1700000000000-0001-0',
  status: 'ACCEPTED',
  seq: 7,
  reason: null,
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 10,
  price: 101.5,
  position: 10,
  tickTs: 1_700_000_000_000,
  commandTs: 1_700_000_000_010,
  executedTs: 1_700_000_000_020,
  correlationId: '11111111-2222-4333-8444-555555555555',
  ...over,
});
const message = (messageId: string, e: OrderEvent | string) => ({
  messageId,
  body: typeof e === 'string' ? e : JSON.stringify(e),
});
const verdict = (...messages: { messageId: string; body: string }[]) => checkExecutions(tallyEvents(messages));

describe('verify: executions per order', () => {
  it('counts one SQS message read twice (not deleted in time) once', () => {
    const { counts, problems } = verdict(message('m1', event()), message('m1', event()));
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ accepted: 1, ordersExecutedTwice: 0, republishedEvents: 0 });
  });

  it('counts a re-publish of the same execution (new message id, same orderId and seq) apart, not as a duplicate', () => {
    // The stored event read back from DynamoDB may list its keys in another order: still the same event.
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(event()).reverse()));
    const { counts, problems } = verdict(message('m1', event()), message('m2', reordered), message('m3', event()));
    expect(problems).toEqual([]);
    expect(counts).toMatchObject({ accepted: 1, ordersExecutedTwice: 0, republishedEvents: 2 });
  });

  it('flags two seqs for one order id as an order executed twice', () => {
    const { counts, problems } = verdict(message('m1', event()), message('m2', event({ seq: 8 })));
    expect(counts).toMatchObject({ ordersExecutedTwice: 1, republishedEvents: 0 });
    expect(problems).toEqual(['order AAPL-1700000000000-0001-0 was executed 2 times (seq 7, seq 8)']);
  });

  it('flags an accepted and a rejected outcome for one order id as two executions', () => {
    const rejected = event({ status: 'REJECTED', seq: null, reason: 'position limit' });
    const { counts, problems } = verdict(message('m1', event()), message('m2', rejected));
    expect(counts.ordersExecutedTwice).toBe(1);
    expect(problems).toEqual(['order AAPL-1700000000000-0001-0 was executed 2 times (seq 7, rejected)']);
  });

  it('flags the same seq republished with other content (a second version of the event)', () => {
    const { counts, problems } = verdict(
      message('m1', event()),
      message('m2', event({ executedTs: 1_700_000_000_999 })),
    );
    expect(counts).toMatchObject({ ordersExecutedTwice: 0, republishedEvents: 0, changedRepublishes: 1 });
    expect(problems).toEqual([
      'order AAPL-1700000000000-0001-0: an event was republished with the same seq but other content',
    ]);
  });

  it('counts rejected orders, other orders separately, and malformed messages as a problem', () => {
    const other = event({ orderId: 'MSFT-1700000000000-0002-0', symbol: 'MSFT', seq: 8 });
    const rejected = event({ orderId: 'AMZN-1700000000000-0003-0', symbol: 'AMZN', status: 'REJECTED', seq: null });
    const { counts, problems } = verdict(
      message('m1', event()),
      message('m2', other),
      message('m3', rejected),
      message('m4', rejected),
      message('m5', 'not json'),
    );
    expect(counts).toMatchObject({ accepted: 2, rejected: 1, ordersExecutedTwice: 0, republishedEvents: 1 });
    expect(problems).toEqual(['1 event message(s) are not valid order events']);
  });
});
