/**
 * patches/kinesalite+3.3.3.patch moves kinesalite's sequence numbers and hash keys from bignumber.js to native
 * BigInt (a CPU saving: docs/local-cloud.md). It must change nothing a client sees: these are the values unpatched
 * kinesalite 3.3.3 gives for the same inputs (computed with it before the patch, and compared over 20,000 random
 * sequence numbers then), and an AWS sequence number from the Kinesis docs. The first test fails without the patch.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports -- kinesalite's internal module, CommonJS, untyped
const db = require('kinesalite/db/index.js') as {
  stringifySequence(obj: Record<string, unknown>): string;
  parseSequence(seq: string): Record<string, unknown>;
  incrementSequence(seq: string): string;
  partitionKeyToHashKey(key: string): bigint;
  hashKeyInRange(hashKey: bigint, range: { StartingHashKey: string; EndingHashKey: string }): boolean;
};

const CREATED = 1796622000000;

describe('kinesalite, patched', () => {
  it('is patched: hash keys are BigInt, placed in a shard by hashKeyInRange', () => {
    expect(typeof db.hashKeyInRange).toBe('function');
    expect(db.partitionKeyToHashKey('AAPL')).toBe(184850406388112911326934670974242359210n);
    const half = { StartingHashKey: '0', EndingHashKey: '170141183460469231731687303715884105727' };
    expect(db.hashKeyInRange(db.partitionKeyToHashKey('a'), half)).toBe(true);
    expect(db.hashKeyInRange(db.partitionKeyToHashKey('AAPL'), half)).toBe(false);
    expect(db.hashKeyInRange(170141183460469231731687303715884105727n, half)).toBe(true);
  });

  it.each([
    [{ shardCreateTime: CREATED, shardIx: 0 }, '49680913458749635230823779832560966711992136393537093634'],
    [
      { shardCreateTime: CREATED, shardIx: 5, seqIx: 7, seqTime: 1796622050000 },
      '49680913458861138956816432948277107784092684041263775826',
    ],
    [
      { shardCreateTime: CREATED, shardIx: 11, seqIx: '9223372036854775807', seqTime: 1796622999000, byte1: '00' },
      '49680913459006093800606881998687418546308046572438421682',
    ],
    [
      {
        shardCreateTime: CREATED,
        shardIx: 3,
        seqIx: 123456,
        seqTime: 1796622050123,
        version: 1,
        seqRand: 'abcdef01234567',
      },
      '49680913458816539743908392618491871155406446685293903921',
    ],
    [
      { shardCreateTime: CREATED, shardIx: 2, version: 0, seqRand: '0123456789abcdef' },
      '21823675509873903959527009286563495938',
    ],
  ])('writes the sequence number unpatched kinesalite wrote, and reads it back (%j)', (parts, sequence) => {
    expect(db.stringifySequence(parts)).toBe(sequence);
    const parsed = db.parseSequence(sequence);
    expect(parsed.shardCreateTime).toBe(CREATED);
    expect(parsed.shardIx).toBe(parts.shardIx);
    expect(db.stringifySequence(parsed)).toBe(sequence);
  });

  it('reads an AWS sequence number as unpatched kinesalite did, and refuses what is not one', () => {
    expect(db.parseSequence('49590338271490256608559692538361571095921575989136588898')).toEqual({
      shardCreateTime: 1542776258000,
      seqIx: '1734642199',
      byte1: '00',
      seqTime: 1545084650000,
      shardIx: 6,
      version: 2,
    });
    expect(db.incrementSequence('49680913458861138956816432948277107784092684041263775826')).toBe(
      db.stringifySequence({ shardCreateTime: CREATED, shardIx: 5, seqIx: 7, seqTime: 1796622051000 }),
    );
    for (const bad of ['abc', '', '1.5', '-1']) expect(() => db.parseSequence(bad)).toThrow();
  });
});
