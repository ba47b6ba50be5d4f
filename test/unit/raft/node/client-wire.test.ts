import type { OrderResult } from '../../../../shared/domain/order';
import { FRAME_HEADER_BYTES } from '../../../../shared/ledger-contract/framing';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  Kind,
  type WireRequest,
} from '../../../../shared/ledger-contract/wire';

/**
 * The client protocol's entry timestamps (shared/ledger-contract/wire.ts): a client asks for them with the stamped
 * request kinds (6, 7, 8), and stamped results travel in body shapes 4 and 5; the kinds and shapes from before are
 * unchanged, byte for byte, so clients and nodes of either age keep reading each other.
 */
const result = (orderId: string, executedTs?: number): OrderResult => ({
  orderId,
  status: 'ACCEPTED',
  seq: 7,
  duplicate: false,
  position: 3,
  account: 'acct',
  symbol: 'MSFT',
  side: 'BUY',
  quantity: 3,
  price: 50,
  ...(executedTs === undefined ? {} : { executedTs }),
});

/** The frame's body (no length prefix), and its body-shape byte: after kind (1), id (4) and status (2). */
function encoded(body: OrderResult | OrderResult[]) {
  const frame = encodeReply({ kind: Kind.REPLY, id: 1, status: 200, body });
  const bytes = frame.subarray(FRAME_HEADER_BYTES);
  return { bytes, shape: bytes[7] };
}

describe('client protocol: result bodies', () => {
  it('round-trips stamped results in shapes 4 (one) and 5 (a batch)', () => {
    const one = encoded(result('a', 1_796_631_310_521));
    expect(one.shape).toBe(4);
    expect(decodeReply(one.bytes)).toEqual({
      kind: Kind.REPLY,
      id: 1,
      status: 200,
      body: result('a', 1_796_631_310_521),
    });
    const batch = [result('b', 5), result('c')];
    const many = encoded(batch);
    expect(many.shape).toBe(5);
    expect(decodeReply(many.bytes)).toMatchObject({ body: batch });
  });

  it('keeps unstamped results in shapes 1 and 2, readable as before', () => {
    expect(encoded(result('a')).shape).toBe(1);
    const many = encoded([result('b'), result('c')]);
    expect(many.shape).toBe(2);
    expect(decodeReply(many.bytes)).toMatchObject({ body: [result('b'), result('c')] });
  });
});

describe('client protocol: stamped request kinds', () => {
  const order = { orderId: 'a', account: 'acct', symbol: 'MSFT', side: 'BUY' as const, quantity: 3, price: 50 };
  const requests: WireRequest[] = [
    { kind: Kind.APPLY_ORDER, id: 2, order },
    { kind: Kind.APPLY_BATCH, id: 3, orders: [order, { ...order, orderId: 'b' }] },
    { kind: Kind.GET_ORDER, id: 4, orderId: 'a' },
  ];
  /** The kind byte on the wire: after the length prefix. */
  const kindOnWire = (req: WireRequest) => encodeRequest(req)[FRAME_HEADER_BYTES];

  it.each(requests)('kind $kind: sent as itself, or as its stamped form, and read back as asked', (req) => {
    expect(kindOnWire(req)).toBe(req.kind);
    expect(decodeRequest(encodeRequest(req).subarray(FRAME_HEADER_BYTES))).toEqual(req);
    const stamped = { ...req, stamped: true } as WireRequest;
    expect(kindOnWire(stamped)).toBe(req.kind + 4);
    expect(decodeRequest(encodeRequest(stamped).subarray(FRAME_HEADER_BYTES))).toEqual(stamped);
  });
});
