import type { OrderResult } from '../../../../shared/domain/order';
import { FRAME_HEADER_BYTES } from '../../../../shared/ledger-contract/framing';
import { decodeReply, encodeReply, Kind } from '../../../../shared/ledger-contract/wire';

/**
 * The client protocol's result bodies (shared/ledger-contract/wire.ts): results stamped with the ledger's executedTs
 * travel in body shapes 4 and 5, so a client that predates the stamp stops at a shape it does not know instead of
 * misreading the bytes; unstamped results keep shapes 1 and 2, byte for byte as before.
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
