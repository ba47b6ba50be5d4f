import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import type { Entry } from '../../../../raft-node/src/core';
import {
  decodeRecord,
  encodeBatch,
  RECORD_HEADER_BYTES,
  RecordType,
  type RecordBody,
} from '../../../../raft-node/src/storage/records';

/**
 * The log's record framing (raft-node/src/storage/records.ts): entries are written as binary records (type 4) and
 * read back exactly; the JSON entry records (type 2) of logs written before are still read; a binary body never
 * ends in a zero byte (the log's preallocated tail); a damaged binary body is refused, naming what is wrong.
 */

const entryArb: fc.Arbitrary<Entry> = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  type: fc.constantFrom('normal' as const, 'noop' as const, 'config' as const),
  // Any string, lone surrogates included (those fall back to a JSON record).
  data: fc.string({ unit: 'binary' }),
});

function decodeAll(buf: Buffer): RecordBody[] {
  const out: RecordBody[] = [];
  for (let offset = 0; offset < buf.length;) {
    const r = decodeRecord(buf, offset);
    if (!r.ok) throw new Error(r.reason);
    out.push(r.record.body);
    offset = r.record.end;
  }
  return out;
}

/** A type 2 record as logs before the binary entry record held them. */
function jsonEntryRecord(entry: Entry): Buffer {
  const json = Buffer.from(JSON.stringify(entry), 'utf8');
  const record = Buffer.alloc(RECORD_HEADER_BYTES + json.length);
  record.writeUInt32LE(json.length, 0);
  record.writeBigUInt64LE(1n, 8);
  record.writeUInt8(RecordType.Entry, 16);
  record.writeUInt8(1, 17);
  json.copy(record, RECORD_HEADER_BYTES);
  const crc = crc32(record.subarray(8), crc32(record.subarray(0, 4)));
  record.writeUInt32LE(crc, 4);
  return record;
}

describe('log records', () => {
  it('round-trips every entry, and a record never ends in a zero byte', () => {
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 8 }), (entries) => {
        const bodies = entries.map((value): RecordBody => ({ type: RecordType.Entry, value }));
        const buf = encodeBatch(bodies, 7);
        expect(decodeAll(buf)).toEqual(bodies);
        expect(buf[buf.length - 1]).not.toBe(0);
      }),
    );
  });

  it('writes a command entry as a binary record with its data bytes as they are', () => {
    const entry: Entry = { index: 5, term: 2, type: 'normal', data: '{"type":"order","order":{"orderId":"é"}}' };
    const buf = encodeBatch([{ type: RecordType.Entry, value: entry }], 1);
    expect(buf[16]).toBe(4);
    expect(buf.length).toBe(RECORD_HEADER_BYTES + 17 + Buffer.byteLength(entry.data));
    expect(buf.includes(Buffer.from(entry.data))).toBe(true);
  });

  it('still reads the JSON entry records of an older log', () => {
    const entry: Entry = { index: 9, term: 3, type: 'config', data: '{"type":"addLearner"}' };
    expect(decodeAll(jsonEntryRecord(entry))).toEqual([{ type: RecordType.Entry, value: entry }]);
  });

  it('refuses a binary entry with an unknown kind, naming it, even with a valid checksum', () => {
    const buf = encodeBatch([{ type: RecordType.Entry, value: { index: 1, term: 1, type: 'noop', data: '' } }], 1);
    buf[buf.length - 1] = 9;
    buf.writeUInt32LE(crc32(buf.subarray(8), crc32(buf.subarray(0, 4))), 4);
    expect(decodeRecord(buf, 0)).toEqual({ ok: false, reason: 'invalid entry record: kind 9' });
  });

  it('refuses a binary entry with index 0', () => {
    const buf = encodeBatch([{ type: RecordType.Entry, value: { index: 1, term: 1, type: 'noop', data: '' } }], 1);
    buf.writeBigUInt64LE(0n, RECORD_HEADER_BYTES);
    buf.writeUInt32LE(crc32(buf.subarray(8), crc32(buf.subarray(0, 4))), 4);
    expect(decodeRecord(buf, 0)).toEqual({ ok: false, reason: 'invalid entry record: index 0' });
  });
});
