import { crc32 } from 'node:zlib';
import { z } from 'zod';
import type { Entry, HardState } from '../core';

/*
 * Framing of one log record (all integers little-endian):
 *
 *   offset  size  field
 *   0       4     bodyLength   u32, at most MAX_BODY_BYTES
 *   4       4     crc          CRC-32 (zlib/IEEE) of bytes [0,4) followed by bytes [8, 18 + bodyLength)
 *   8       8     batch        u64, the sync() call that wrote the record: 1 for the file's first batch, +1 per sync
 *   16      1     type         1 = base (first record of a file), 2 = entry (JSON), 3 = hard state,
 *                              4 = entry (binary)
 *   17      1     flags        bit 0 = last record of its batch
 *   18      n     body         UTF-8 JSON of the record's payload; for type 4 the binary entry below
 *
 * A type 4 body: index u64, term u64, the entry's data as UTF-8 bytes, then its kind u8 (1 normal, 2 noop,
 * 3 config) last, so that a body never ends in a zero byte (the log's preallocated tail is zeros). Entries are
 * written as type 4: no JSON.stringify escaping the data (itself a JSON command) on every append, 7 µs per
 * one-order entry and 470 µs per 500-order batch entry measured; type 2 records of older logs are still read.
 * A node of an earlier version refuses a log holding type 4 records ("unknown record type 4"): no downgrade.
 *
 * The checksum covers the length too, so a flipped bit anywhere in a record is caught. CRC-32 comes from
 * node:zlib (built in since Node 20.15), so nothing is hand-written here.
 */
export const RECORD_HEADER_BYTES = 18;
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export enum RecordType {
  Base = 1,
  Entry = 2,
  HardState = 3,
}

/** On disk only: an entry record with a binary body (decoded as RecordType.Entry). */
const BINARY_ENTRY = 4;
const ENTRY_KINDS = ['normal', 'noop', 'config'] as const;
const ENTRY_FIXED_BYTES = 8 + 8 + 1;

const LAST_IN_BATCH = 1;

export const EntrySchema = z
  .object({
    index: z.number().int().positive(),
    term: z.number().int().nonnegative(),
    type: z.enum(['normal', 'noop', 'config']),
    data: z.string(),
  })
  .strict();

export const HardStateSchema = z
  .object({
    term: z.number().int().nonnegative(),
    vote: z.string().nullable(),
    commit: z.number().int().nonnegative(),
  })
  .strict();

/** The log's starting point: entries in the file begin at baseIndex + 1; baseTerm is the term of baseIndex. */
export const BaseSchema = z
  .object({
    baseIndex: z.number().int().nonnegative(),
    baseTerm: z.number().int().nonnegative(),
  })
  .strict();
export type LogBase = z.infer<typeof BaseSchema>;

export type RecordBody =
  | { type: RecordType.Base; value: LogBase }
  | { type: RecordType.Entry; value: Entry }
  | { type: RecordType.HardState; value: HardState };

export interface DecodedRecord {
  body: RecordBody;
  batch: number;
  lastInBatch: boolean;
  offset: number;
  /** Offset of the byte after the record. */
  end: number;
}

export type DecodeResult = { ok: true; record: DecodedRecord } | { ok: false; reason: string };

function checksum(buf: Buffer, start: number, bodyLength: number): number {
  const lengthCrc = crc32(buf.subarray(start, start + 4));
  return crc32(buf.subarray(start + 8, start + RECORD_HEADER_BYTES + bodyLength), lengthCrc);
}

/** Serializes one batch: the records get the batch number, the last one the end-of-batch flag. */
export function encodeBatch(bodies: readonly RecordBody[], batch: number): Buffer {
  const parts = bodies.map((body, i) => {
    // A string with a lone surrogate has no exact UTF-8 form; JSON escapes it (never the case for a command,
    // which is JSON text already, but the log must give back exactly what it was given).
    const binary = body.type === RecordType.Entry && isWellFormed(body.value.data);
    const record = binary ? binaryEntryRecord(body.value) : jsonRecord(body);
    const bodyLength = record.length - RECORD_HEADER_BYTES;
    if (bodyLength > MAX_BODY_BYTES) {
      throw new Error(`log record of ${bodyLength} bytes exceeds the ${MAX_BODY_BYTES}-byte limit`);
    }
    record.writeUInt32LE(bodyLength, 0);
    record.writeBigUInt64LE(BigInt(batch), 8);
    record.writeUInt8(i === bodies.length - 1 ? LAST_IN_BATCH : 0, 17);
    record.writeUInt32LE(checksum(record, 0, bodyLength), 4);
    return record;
  });
  return Buffer.concat(parts);
}

/** String.prototype.isWellFormed (Node 20; this project's TypeScript lib predates it). */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** A record (header to be filled in) with the body as JSON of the persisted fields. */
function jsonRecord(body: RecordBody): Buffer {
  const json = Buffer.from(JSON.stringify(canonicalValue(body)), 'utf8');
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + json.length);
  record.writeUInt8(body.type, 16);
  json.copy(record, RECORD_HEADER_BYTES);
  return record;
}

/** A type 4 record (header to be filled in): the entry's fields in binary, its data's bytes copied as they are. */
function binaryEntryRecord(entry: Entry): Buffer {
  const dataBytes = Buffer.byteLength(entry.data, 'utf8');
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + ENTRY_FIXED_BYTES + dataBytes);
  record.writeUInt8(BINARY_ENTRY, 16);
  let at = RECORD_HEADER_BYTES;
  record.writeBigUInt64LE(BigInt(entry.index), at);
  record.writeBigUInt64LE(BigInt(entry.term), at + 8);
  at += 16;
  at += record.write(entry.data, at, 'utf8');
  record.writeUInt8(ENTRY_KINDS.indexOf(entry.type) + 1, at);
  return record;
}

/** The entry in a type 4 body, or why it is not one. */
function decodeBinaryEntry(body: Buffer): RecordBody | string {
  if (body.length < ENTRY_FIXED_BYTES) return `binary entry record of ${body.length} bytes is too short`;
  const index = body.readBigUInt64LE(0);
  const term = body.readBigUInt64LE(8);
  const kind = ENTRY_KINDS[body[body.length - 1]! - 1];
  if (index < 1n || index > BigInt(Number.MAX_SAFE_INTEGER)) return `invalid entry record: index ${index}`;
  if (term > BigInt(Number.MAX_SAFE_INTEGER)) return `invalid entry record: term ${term}`;
  if (!kind) return `invalid entry record: kind ${body[body.length - 1]}`;
  const data = body.toString('utf8', 16, body.length - 1);
  return { type: RecordType.Entry, value: { index: Number(index), term: Number(term), type: kind, data } };
}

/** Copies only the persisted fields, so extra properties a caller's objects carry never reach the disk. */
function canonicalValue(body: RecordBody): unknown {
  switch (body.type) {
    case RecordType.Base:
      return { baseIndex: body.value.baseIndex, baseTerm: body.value.baseTerm };
    case RecordType.Entry:
      return { index: body.value.index, term: body.value.term, type: body.value.type, data: body.value.data };
    case RecordType.HardState:
      return { term: body.value.term, vote: body.value.vote, commit: body.value.commit };
  }
}

/** Decodes the record at `offset`, or says why the bytes there are not a whole, intact record. */
export function decodeRecord(buf: Buffer, offset: number): DecodeResult {
  if (buf.length - offset < RECORD_HEADER_BYTES) {
    return { ok: false, reason: `incomplete header (${buf.length - offset} of ${RECORD_HEADER_BYTES} bytes)` };
  }
  const bodyLength = buf.readUInt32LE(offset);
  if (bodyLength > MAX_BODY_BYTES) {
    return { ok: false, reason: `implausible body length ${bodyLength}` };
  }
  const end = offset + RECORD_HEADER_BYTES + bodyLength;
  if (end > buf.length) {
    return { ok: false, reason: `record of ${end - offset} bytes runs past the end of the file` };
  }
  if (checksum(buf, offset, bodyLength) !== buf.readUInt32LE(offset + 4)) {
    return { ok: false, reason: 'checksum mismatch' };
  }
  const batch = Number(buf.readBigUInt64LE(offset + 8));
  const type = buf.readUInt8(offset + 16);
  const flags = buf.readUInt8(offset + 17);
  if (type === BINARY_ENTRY) {
    const body = decodeBinaryEntry(buf.subarray(offset + RECORD_HEADER_BYTES, end));
    if (typeof body === 'string') return { ok: false, reason: body };
    return { ok: true, record: { body, batch, lastInBatch: (flags & LAST_IN_BATCH) !== 0, offset, end } };
  }
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8', offset + RECORD_HEADER_BYTES, end));
  } catch {
    return { ok: false, reason: 'body is not JSON despite a valid checksum' };
  }
  const body = parseBody(type, json);
  if (typeof body === 'string') return { ok: false, reason: body };
  return { ok: true, record: { body, batch, lastInBatch: (flags & LAST_IN_BATCH) !== 0, offset, end } };
}

function parseBody(type: number, json: unknown): RecordBody | string {
  switch (type) {
    case RecordType.Base: {
      const parsed = BaseSchema.safeParse(json);
      return parsed.success ? { type, value: parsed.data } : `invalid base record: ${parsed.error.message}`;
    }
    case RecordType.Entry: {
      const parsed = EntrySchema.safeParse(json);
      return parsed.success ? { type, value: parsed.data } : `invalid entry record: ${parsed.error.message}`;
    }
    case RecordType.HardState: {
      const parsed = HardStateSchema.safeParse(json);
      return parsed.success ? { type, value: parsed.data } : `invalid hard state record: ${parsed.error.message}`;
    }
    default:
      return `unknown record type ${type}`;
  }
}
