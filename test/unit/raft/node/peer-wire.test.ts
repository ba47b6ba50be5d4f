import fc from 'fast-check';
import { FrameDecoder, NO_FRAME } from '../../../../shared/ledger-contract/framing';
import {
  decodePeerFrame,
  encodePeerFrame,
  FrameKind,
  PEER_PROTOCOL_VERSION,
  type PeerFrame,
  type PeerMessage,
} from '../../../../raft-node/src/server/peer-wire';

/**
 * The binary peer protocol (raft-node/src/server/peer-wire.ts): every frame round-trips, and every kind of
 * malformed frame is refused with a WireError naming what is wrong, never a partial or out-of-range value.
 */

const FROM = 'n1';
const TO = 'n2';
const nat = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const id = fc.string({ maxLength: 12 });
const text = fc.string({ maxLength: 40, unit: 'grapheme' });
const sha256 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const base = { from: fc.constant(FROM), to: fc.constant(TO), term: nat };
const entry = fc.record({
  index: nat,
  term: nat,
  type: fc.constantFrom('normal' as const, 'noop' as const, 'config' as const),
  data: fc.string({ maxLength: 200, unit: 'grapheme' }),
});
const meta = fc.record({ index: nat, term: nat, config: fc.record({ voters: fc.array(id), learners: fc.array(id) }) });

const message: fc.Arbitrary<PeerMessage> = fc.oneof(
  fc.record({ ...base, type: fc.constant('PreVote' as const), lastIndex: nat, lastTerm: nat }),
  fc.record({ ...base, type: fc.constant('Vote' as const), lastIndex: nat, lastTerm: nat, transfer: fc.boolean() }),
  fc.record({ ...base, type: fc.constantFrom('PreVoteResp' as const, 'VoteResp' as const), reject: fc.boolean() }),
  fc.record({
    ...base,
    type: fc.constant('Append' as const),
    prevIndex: nat,
    prevTerm: nat,
    commit: nat,
    entries: fc.array(entry, { maxLength: 5 }),
  }),
  fc.record({
    ...base,
    type: fc.constant('AppendResp' as const),
    index: nat,
    reject: fc.boolean(),
    rejectHint: nat,
    conflictTerm: nat,
  }),
  fc.record({ ...base, type: fc.constant('Heartbeat' as const), commit: nat, context: fc.option(text) }),
  fc.record({ ...base, type: fc.constant('HeartbeatResp' as const), context: fc.option(text) }),
  fc.record({ ...base, type: fc.constant('TimeoutNow' as const) }),
  fc.record({ ...base, type: fc.constant('ReadIndex' as const), context: text }),
  fc.record({ ...base, type: fc.constant('ReadIndexResp' as const), context: text, index: nat }),
  fc.record({ ...base, type: fc.constant('TransferLeader' as const), target: id }),
  fc.record({
    ...base,
    type: fc.constant('SnapshotChunk' as const),
    clusterId: id,
    meta,
    sha256,
    bytes: nat,
    offset: nat,
    done: fc.boolean(),
    data: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  }),
  fc.record(
    { ...base, type: fc.constant('SnapshotAck' as const), sha256, next: nat, error: text },
    { requiredKeys: ['from', 'to', 'term', 'type', 'sha256', 'next'] },
  ),
);

const frame: fc.Arbitrary<PeerFrame> = fc.oneof(
  fc.record({ kind: fc.constant(FrameKind.CHALLENGE), version: fc.nat(255), nodeId: id, nonce: text }),
  fc.record({
    kind: fc.constant(FrameKind.HELLO),
    version: fc.nat(255),
    nodeId: id,
    raftAddr: text,
    httpUrl: text,
    nonce: text,
    timestamp: fc.double({ noNaN: true }),
    proof: fc.option(text),
  }),
  fc.record({ kind: fc.constant(FrameKind.WELCOME), proof: fc.option(text) }),
  fc.record({
    kind: fc.constant(FrameKind.MESSAGES),
    from: fc.constant(FROM),
    to: fc.constant(TO),
    messages: fc.array(message, { maxLength: 6 }),
  }),
);

/** The body of an encoded frame (what the FrameDecoder hands the transport). */
const body = (f: PeerFrame): Buffer => encodePeerFrame(f).subarray(4);
const messages = (...ms: PeerMessage[]) => body({ kind: FrameKind.MESSAGES, from: FROM, to: TO, messages: ms });
const append: PeerMessage = {
  type: 'Append',
  from: FROM,
  to: TO,
  term: 2,
  prevIndex: 1,
  prevTerm: 1,
  commit: 1,
  entries: [{ index: 2, term: 2, type: 'normal', data: '{"é":1}' }],
};

/** Offsets into `messages(append)`: kind 1, from 2+2, to 2+2, count 4, then the message. */
const MSG = 1 + 4 + 4 + 4;
const TERM = MSG + 1;
const COMMIT = TERM + 8 + 8 + 8;
const ENTRY_TYPE = COMMIT + 8 + 4 + 8 + 8;

function patched(buf: Buffer, at: number, write: (b: Buffer, at: number) => void): Buffer {
  const copy = Buffer.from(buf);
  write(copy, at);
  return copy;
}

describe('peer wire', () => {
  test('every frame round-trips, through arbitrary chunking of the stream', () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 4 }), fc.nat(50), (frames, cut) => {
        const stream = Buffer.concat(frames.map(encodePeerFrame));
        const decoder = new FrameDecoder();
        const out: PeerFrame[] = [];
        for (let at = 0; at < stream.length; at += cut + 1) {
          decoder.append(stream.subarray(at, at + cut + 1));
          for (let b = decoder.nextRaw(); b !== NO_FRAME; b = decoder.nextRaw()) out.push(decodePeerFrame(b));
        }
        expect(out).toEqual(frames);
      }),
    );
  });

  test('an entry payload goes as its UTF-8 bytes, not as JSON', () => {
    const frameBody = messages(append);
    const payload = Buffer.from('{"é":1}', 'utf8');
    expect(frameBody.subarray(frameBody.length - payload.length)).toEqual(payload);
    expect(frameBody.includes('"entries"')).toBe(false);
  });

  test('a truncated frame is refused at every cut, naming the field', () => {
    fc.assert(
      fc.property(frame, fc.nat(), (f, n) => {
        const full = body(f);
        const cut = full.subarray(0, n % full.length);
        expect(() => decodePeerFrame(cut)).toThrow(/message cut short reading|unknown frame kind/);
      }),
    );
  });

  test('trailing bytes are refused', () => {
    expect(() => decodePeerFrame(Buffer.concat([messages(append), Buffer.from([0])]))).toThrow(
      '1 bytes left over after the message',
    );
  });

  test.each<[string, Buffer, string | RegExp]>([
    ['an empty frame', Buffer.alloc(0), 'message cut short reading frame kind'],
    ['an unknown frame kind', Buffer.from([9]), 'unknown frame kind 9'],
    ['JSON from an older node', Buffer.from('[{"type":"Append"}]'), 'unknown frame kind 91'],
    ['an unknown message type', patched(messages(append), MSG, (b, at) => (b[at] = 99)), /unknown message type 99/],
    [
      'a core Snapshot (never on the wire)',
      patched(messages(append), MSG, (b, at) => (b[at] = 0)),
      /unknown message type 0/,
    ],
    ['a negative term', patched(messages(append), TERM, (b, at) => b.writeDoubleBE(-1, at)), /term is -1/],
    [
      'a fractional commit',
      patched(messages(append), COMMIT, (b, at) => b.writeDoubleBE(1.5, at)),
      /commit is 1.5, not a non-negative integer/,
    ],
    ['a NaN term', patched(messages(append), TERM, (b, at) => b.writeDoubleBE(NaN, at)), /term is NaN/],
    [
      'an unsafe integer',
      patched(messages(append), TERM, (b, at) => b.writeDoubleBE(2 ** 60, at)),
      /not a non-negative integer/,
    ],
    [
      'an unknown entry type',
      patched(messages(append), ENTRY_TYPE, (b, at) => (b[at] = 7)),
      /Append message 0 entry 0: unknown entry type 7/,
    ],
    [
      'an entry longer than the frame',
      patched(messages(append), ENTRY_TYPE + 1, (b, at) => b.writeUInt32BE(1_000_000, at)),
      /message cut short reading Append message 0 entry 0 data/,
    ],
    [
      'more messages than the frame holds',
      patched(messages(append), 9, (b, at) => b.writeUInt32BE(0xffffffff, at)),
      /cut short reading message 1 type/,
    ],
    [
      'a boolean that is neither 0 nor 1',
      messagesWithByte({ type: 'VoteResp', from: FROM, to: TO, term: 1, reject: true }, 2),
      /VoteResp message 0 reject is byte 2, not a boolean/,
    ],
  ])('refuses %s', (_what, frameBody, error) => {
    expect(() => decodePeerFrame(frameBody)).toThrow(error);
  });

  test('refuses a snapshot chunk cut inside its sha256 or data, or a bad presence byte on an ack error', () => {
    const chunk: PeerMessage = {
      type: 'SnapshotChunk',
      from: FROM,
      to: TO,
      term: 1,
      clusterId: 'c',
      meta: { index: 1, term: 1, config: { voters: ['n1'], learners: [] } },
      sha256: 'ab'.repeat(32),
      bytes: 4,
      offset: 0,
      done: true,
      data: Buffer.from([1, 2, 3, 4]),
    };
    const full = messages(chunk);
    expect(() => decodePeerFrame(full.subarray(0, full.length - 2))).toThrow(/SnapshotChunk message 0 data/);
    const ack = messages({ type: 'SnapshotAck', from: FROM, to: TO, term: 1, sha256: 'ab'.repeat(32), next: 4 });
    expect(() => decodePeerFrame(patched(ack, ack.length - 1, (b, at) => (b[at] = 5)))).toThrow(
      /SnapshotAck message 0 error presence is byte 5/,
    );
  });

  test('the encoder refuses what cannot go on the wire instead of sending garbage', () => {
    const bad = { ...append, type: 'Snapshot' } as unknown as PeerMessage;
    expect(() => messages(bad)).toThrow('message type Snapshot does not go on the wire');
    const ack = { type: 'SnapshotAck', from: FROM, to: TO, term: 1, sha256: 'nope', next: 0 } as PeerMessage;
    expect(() => messages(ack)).toThrow('sha256 nope is not 64 lowercase hex digits');
  });

  test('the handshake frames carry the protocol version', () => {
    const challenge = decodePeerFrame(
      body({ kind: FrameKind.CHALLENGE, version: PEER_PROTOCOL_VERSION, nodeId: 'n1', nonce: 'x' }),
    );
    expect(challenge).toEqual({ kind: FrameKind.CHALLENGE, version: PEER_PROTOCOL_VERSION, nodeId: 'n1', nonce: 'x' });
  });
});

/** A one-message frame whose last byte is replaced by `byte` (a boolean field at the end of the message). */
function messagesWithByte(m: PeerMessage, byte: number): Buffer {
  return patched(messages(m), messages(m).length - 1, (b, at) => (b[at] = byte));
}
