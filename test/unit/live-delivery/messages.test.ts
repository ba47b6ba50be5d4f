import type { SQSRecord } from 'aws-lambda';
import * as fc from 'fast-check';
import { cancelReply, submitReply } from '../../../functions/ws-connection/app';
import { fifoFailures } from '../../../functions/ws-notifier/app';
import { commandCorrelationId } from '../../../shared/aws/order-entry';
import { CorrelationIdSchema } from '../../../shared/domain/tick';
import { tokenOf } from '../../../functions/ws-authorizer/app';
import {
  accountUpdatesMessages,
  ACTIONS,
  classifySeq,
  ClientError,
  latestPerSymbol,
  MAX_CLIENT_MESSAGE_BYTES,
  MAX_UPDATES_MESSAGE_BYTES,
  MAX_UPDATES_PER_MESSAGE,
  parseAccountUpdates,
  parseClientMessage,
  type OrderUpdate,
  topicsOf,
  touchedCandles,
} from '../../../shared/domain/live-delivery';

function refusal(body: string | undefined): { code: string; message: string } {
  try {
    parseClientMessage(body);
  } catch (error) {
    if (error instanceof ClientError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`accepted ${body}`);
}

describe('client messages', () => {
  it('parses every action, normalising symbols at the edge', () => {
    expect(parseClientMessage('{"action":"subscribe","channel":"prices","symbols":[" aapl ","MSFT"]}')).toEqual({
      action: 'subscribe',
      channel: 'prices',
      symbols: ['AAPL', 'MSFT'],
    });
    expect(parseClientMessage('{"action":"unsubscribe","channel":"orders","requestId":"r-1"}')).toEqual({
      action: 'unsubscribe',
      channel: 'orders',
      requestId: 'r-1',
    });
    expect(parseClientMessage('{"action":"order.status","orderId":"o-1"}')).toEqual({
      action: 'order.status',
      orderId: 'o-1',
    });
    expect(parseClientMessage('{"action":"resume","since":0}')).toEqual({ action: 'resume', since: 0 });
    // order.submit's order is POST /orders' body, validated by order entry (not here) so its errors are field by field.
    expect(parseClientMessage('{"action":"order.submit","requestId":"p","order":{"clientOrderId":"c"}}')).toEqual({
      action: 'order.submit',
      requestId: 'p',
      order: { clientOrderId: 'c' },
    });
    expect(parseClientMessage('{"action":"order.cancel","orderId":"u-1"}')).toEqual({
      action: 'order.cancel',
      orderId: 'u-1',
    });
    expect(ACTIONS).toEqual(['subscribe', 'unsubscribe', 'order.status', 'resume', 'order.submit', 'order.cancel']);
  });

  it.each([
    [undefined, 'BAD_REQUEST', 'empty message'],
    ['not json', 'BAD_REQUEST', 'message is not JSON'],
    ['[1]', 'BAD_REQUEST', 'must be a JSON object'],
    ['{"channel":"prices"}', 'BAD_REQUEST', 'action: required'],
    ['{"action":"buy"}', 'UNKNOWN_ACTION', 'unknown action "buy"; expected subscribe, unsubscribe'],
    [
      '{"action":"subscribe","channel":"news"}',
      'BAD_REQUEST',
      'channel: channel must be one of prices, candles, orders',
    ],
    ['{"action":"subscribe","channel":"prices","symbols":[]}', 'BAD_REQUEST', 'symbols:'],
    ['{"action":"subscribe","channel":"prices","symbols":["A$"]}', 'BAD_REQUEST', 'symbols.0:'],
    ['{"action":"resume","since":-1}', 'BAD_REQUEST', 'since:'],
    ['{"action":"resume","since":1.5}', 'BAD_REQUEST', 'since:'],
    ['{"action":"order.status","orderId":".."}', 'BAD_REQUEST', 'orderId:'],
    ['{"action":"resume","since":1,"account":"B"}', 'BAD_REQUEST', 'account'],
    ['{"action":"order.cancel","orderId":"a b"}', 'BAD_REQUEST', 'orderId:'],
    ['{"action":"order.submit","order":{},"account":"B"}', 'BAD_REQUEST', 'account'],
  ])('refuses %s with %s naming what is wrong', (body, code, message) => {
    const r = refusal(body);
    expect(r.code).toBe(code);
    expect(r.message).toContain(message);
  });

  it('refuses a frame over the size limit before parsing it', () => {
    const big = JSON.stringify({ action: 'resume', since: 1, pad: 'x'.repeat(MAX_CLIENT_MESSAGE_BYTES) });
    expect(refusal(big)).toEqual({
      code: 'BAD_REQUEST',
      message: `message is larger than ${MAX_CLIENT_MESSAGE_BYTES} bytes`,
    });
  });
});

describe('topics', () => {
  it('orders are always the caller’s own account; market data is per symbol, deduplicated', () => {
    expect(topicsOf('orders', undefined, 'A1')).toEqual(['orders#A1']);
    expect(topicsOf('prices', ['AAPL', 'AAPL', 'MSFT'], 'A1')).toEqual(['prices#AAPL', 'prices#MSFT']);
    expect(() => topicsOf('orders', ['AAPL'], 'A1')).toThrow('symbols: not allowed on the orders channel');
    expect(() => topicsOf('prices', undefined, 'A1')).toThrow('symbols: required on the prices channel');
  });
});

describe('order entry replies', () => {
  const thrown = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      if (error instanceof ClientError) return { code: error.code, message: error.message, ...error.details };
      throw error;
    }
    throw new Error('no refusal');
  };
  it('maps each place outcome to order.accepted or an error code with its details', () => {
    expect(submitReply({ kind: 'entered', orderId: 'u-1', status: 'PENDING' })).toEqual({
      type: 'order.accepted',
      orderId: 'u-1',
      status: 'PENDING',
    });
    expect(submitReply({ kind: 'expired', orderId: 'u-2', status: 'EXPIRED', reason: 'IOC' })).toEqual({
      type: 'order.accepted',
      orderId: 'u-2',
      status: 'EXPIRED',
      reason: 'IOC',
    });
    const errors = [{ field: 'quantity', message: 'must be positive' }];
    expect(thrown(() => submitReply({ kind: 'invalid', message: 'invalid order', errors }))).toEqual({
      code: 'VALIDATION',
      message: 'invalid order',
      errors,
    });
    expect(thrown(() => submitReply({ kind: 'forbidden', message: 'no' }))).toEqual({
      code: 'FORBIDDEN',
      message: 'no',
    });
    expect(thrown(() => submitReply({ kind: 'rate-limited', message: 'slow', retryAfterSeconds: 1 }))).toEqual({
      code: 'RATE_LIMITED',
      message: 'slow',
      retryAfterSeconds: 1,
    });
    expect(
      thrown(() => submitReply({ kind: 'conflict', message: 'used', orderId: 'u-1', conflicts: ['side'] })),
    ).toEqual({ code: 'CONFLICT', message: 'used', orderId: 'u-1', conflicts: ['side'] });
  });

  it('maps each cancel outcome to order.canceled or an error code', () => {
    expect(cancelReply({ kind: 'canceled', orderId: 'u-1', status: 'CANCELED' })).toEqual({
      type: 'order.canceled',
      orderId: 'u-1',
      status: 'CANCELED',
    });
    expect(thrown(() => cancelReply({ kind: 'refused', orderId: 'u-1', status: 'EXECUTED' }))).toEqual({
      code: 'CONFLICT',
      message: 'order u-1 is EXECUTED: too late to cancel',
      orderId: 'u-1',
      status: 'EXECUTED',
    });
    expect(thrown(() => cancelReply({ kind: 'not-found', message: 'no order u-9' })).code).toBe('NOT_FOUND');
    expect(thrown(() => cancelReply({ kind: 'forbidden', message: 'viewer' })).code).toBe('FORBIDDEN');
    expect(thrown(() => cancelReply({ kind: 'invalid', message: 'orderId: bad' })).code).toBe('BAD_REQUEST');
  });
});

describe('correlation ids of entered orders', () => {
  it('keeps an API Gateway request id recognisable and makes it one the command schema accepts', () => {
    expect(commandCorrelationId('Tj-QjjMloAMEbOg=')).toBe('Tj-QjjMloAMEbOg_');
    expect(commandCorrelationId('a+b/c')).toBe('a_b_c');
    expect(commandCorrelationId('x'.repeat(200))).toHaveLength(128);
    expect(CorrelationIdSchema.safeParse(commandCorrelationId('L1y9yHX+/oAMFQjg==')).success).toBe(true);
  });
});

describe('candles a batch touched', () => {
  it('names each interval’s bucket once, with the batch’s newest tick in it by (ts, tickId)', () => {
    const tick = (symbol: string, ts: number, tickId: string) => ({ symbol, ts, tickId, price: 1, size: 1 });
    const touched = touchedCandles([
      tick('A', 59_999, 'b'),
      tick('A', 60_000, 'a'),
      tick('A', 59_999, 'c'),
      tick('A', 60_000, 'z'),
      tick('B', 10, 'x'),
    ]);
    const summary = touched.map((t) => `${t.ref.symbol} ${t.ref.interval}@${t.ref.start} ${t.newest.tickId}`);
    expect(summary.sort()).toEqual([
      'A 1h@0 z',
      'A 1m@0 c',
      'A 1m@60000 z',
      'A 5m@0 z',
      'B 1h@0 x',
      'B 1m@0 x',
      'B 5m@0 x',
    ]);
  });
});

describe('price conflation', () => {
  it('keeps the latest tick of each symbol', () => {
    const ticks = [
      { symbol: 'A', ts: 3, price: 1 },
      { symbol: 'B', ts: 1, price: 2 },
      { symbol: 'A', ts: 5, price: 3 },
      { symbol: 'A', ts: 4, price: 4 },
    ];
    expect(latestPerSymbol(ticks)).toEqual([
      { symbol: 'A', ts: 5, price: 3 },
      { symbol: 'B', ts: 1, price: 2 },
    ]);
  });
});

describe('the client side of seq', () => {
  it('an at-least-once stream with duplicates, filtered by classifySeq, is exactly 1..n in order', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 50 }), (repeats) => {
        // Seqs first sent in order (the notifier's order per connection), each followed by redeliveries of
        // earlier seqs (a failed record's updates posted again).
        const sent: number[] = [];
        repeats.forEach((r, i) => {
          sent.push(i + 1);
          for (let k = 0; k < r; k++) sent.push(1 + ((i * 7 + k * 3) % (i + 1)));
        });
        let last = 0;
        const got: number[] = [];
        for (const seq of sent) {
          const verdict = classifySeq(last, seq);
          expect(verdict).not.toBe('gap');
          if (verdict === 'deliver') got.push((last = seq));
        }
        expect(got).toEqual(repeats.map((_, i) => i + 1));
      }),
    );
    expect(classifySeq(4, 6)).toBe('gap');
  });
});

describe('FIFO failures', () => {
  const record = (messageId: string, group: string) =>
    ({ messageId, attributes: { MessageGroupId: group } }) as unknown as SQSRecord;
  it('fails every later record of a group with a failed record, and no other', () => {
    const records = [record('1', 'a'), record('2', 'b'), record('3', 'a'), record('4', 'b'), record('5', 'c')];
    expect(fifoFailures(records, new Set(['3', '2']))).toEqual(['2', '3', '4']);
    expect(fifoFailures(records, new Set())).toEqual([]);
  });
});

describe('token of a $connect request', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
  it('reads the token query parameter, or the JWT-shaped subprotocol a browser offers', () => {
    expect(tokenOf({ queryStringParameters: { token: jwt }, headers: {} })).toBe(jwt);
    expect(tokenOf({ queryStringParameters: null, headers: { 'Sec-WebSocket-Protocol': `trading, ${jwt}` } })).toBe(
      jwt,
    );
    expect(tokenOf({ queryStringParameters: null, headers: { 'sec-websocket-protocol': 'trading' } })).toBeUndefined();
    expect(tokenOf({ queryStringParameters: null, headers: null })).toBeUndefined();
  });
});

describe('account-updates messages', () => {
  const update = fc.record({
    orderId: fc.stringMatching(/^[a-z0-9-]{1,12}$/),
    account: fc.constantFrom('A1', 'A2', 'A3'),
    status: fc.constantFrom('ACCEPTED', 'REJECTED', 'CANCELED'),
    note: fc.string({ maxLength: 4000 }),
  });

  it('packs each account’s updates in order, within the count and size caps, and every update exactly once', () => {
    fc.assert(
      fc.property(fc.array(update, { maxLength: 60 }), (updates: OrderUpdate[]) => {
        const messages = accountUpdatesMessages(updates);
        expect(messages.flatMap((m) => m.indexes).sort((a, b) => a - b)).toEqual(updates.map((_, i) => i));
        for (const m of messages) {
          const parsed = parseAccountUpdates(m.body);
          expect(parsed).toEqual(m.indexes.map((i) => updates[i]));
          expect(m.indexes.length).toBeLessThanOrEqual(MAX_UPDATES_PER_MESSAGE);
          expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(MAX_UPDATES_MESSAGE_BYTES + 64);
          expect(m.indexes.every((i) => updates[i]!.account === m.account)).toBe(true);
          expect(m.deduplicationId.length).toBeLessThanOrEqual(128);
        }
        // Per account, the messages in send order carry its updates in their order.
        for (const account of new Set(updates.map((u) => u.account))) {
          const sent = messages.filter((m) => m.account === account).flatMap((m) => m.indexes);
          expect(sent).toEqual(updates.flatMap((u, i) => (u.account === account ? [i] : [])));
        }
      }),
    );
  });

  it('the same updates packed again get the same dedup ids; one update alone keeps its key as the id', () => {
    const updates = [1, 2, 3].map((n) => ({ orderId: `o-${n}`, account: 'A1', status: 'ACCEPTED' }));
    expect(accountUpdatesMessages(updates).map((m) => m.deduplicationId)).toEqual(
      accountUpdatesMessages(updates.map((u) => ({ ...u }))).map((m) => m.deduplicationId),
    );
    expect(accountUpdatesMessages([updates[0]!])[0]!.deduplicationId).toBe('o-1:ACCEPTED');
    expect(accountUpdatesMessages(updates.slice(0, 2))[0]!.deduplicationId).not.toBe(
      accountUpdatesMessages(updates.slice(1))[0]!.deduplicationId,
    );
  });

  it('reads the format before packing (one update) and names what is wrong with anything else', () => {
    const one = { orderId: 'o-1', account: 'A1', status: 'ACCEPTED' };
    expect(parseAccountUpdates(JSON.stringify(one))).toEqual([one]);
    expect(parseAccountUpdates('{')).toMatch(/^body is not JSON/);
    expect(parseAccountUpdates(JSON.stringify({ updates: [] }))).toMatch(/updates/);
    expect(parseAccountUpdates(JSON.stringify({ updates: [one, { ...one, account: 'A2' }] }))).toMatch(/one account/);
    expect(parseAccountUpdates(JSON.stringify({ updates: Array(11).fill(one) }))).toMatch(/updates/);
    expect(parseAccountUpdates(JSON.stringify({ ...one, orderId: undefined }))).toMatch(/orderId/);
  });
});
