/*
 * The snapshot file, written and read as a stream of records so that no string or buffer ever holds the whole
 * state (a JSON string of the ledger passes V8's maximum string length near 1.6 M orders).
 *
 *   offset 0   8 bytes  magic "RAFTSNP2"
 *   then       records: u32 LE body length (at most MAX_SNAPSHOT_RECORD_BYTES), body = UTF-8 JSON, or a 0x00 byte
 *              followed by raw bytes (a binary record; JSON never starts with 0x00)
 *              record 1      header  {kind: 'snapshot', version: 2, clusterId, index, term, config, members}
 *              records 2..n  the state machine's records: either the ledger as JSON (ledger/state-machine.ts: head,
 *                            orders…, positions…), or its order store's file (storage/ledger-snapshot.ts: a JSON
 *                            head, then the file's bytes in binary records), or only a reference to the node's own
 *                            store (a compaction point, storage/ledger-snapshot.ts)
 *              last record   trailer {kind: 'trailer', records: n, sha256}: n counts the records before it, sha256
 *                            (hex) covers every byte before the trailer's length prefix, magic included
 *
 * The same bytes are what InstallSnapshot sends, in byte ranges (server/snapshot-transfer.ts); the receiver parses
 * them as they arrive (SnapshotStreamParser) and installs only once the checksum is verified. The trailer's sha256
 * names the snapshot in the core (Snapshot.data is the small descriptor {sha256, bytes}, never the state).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { z } from 'zod';
import type { ClusterConfig, Snapshot } from '../core';

export const SNAPSHOT_STREAM_MAGIC = Buffer.from('RAFTSNP2', 'ascii');
export const MAX_SNAPSHOT_RECORD_BYTES = 64 * 1024 * 1024;
const SNAPSHOT_STREAM_VERSION = 2;

export interface SnapshotHeader {
  clusterId: string | null;
  index: number;
  term: number;
  config: ClusterConfig;
  /** The node layer's member addresses (nodeId → address), opaque here. */
  members: Record<string, unknown>;
}

export interface SnapshotFileInfo {
  header: SnapshotHeader;
  sha256: string;
  /** Size of the file in bytes. */
  bytes: number;
}

const HeaderSchema = z
  .object({
    kind: z.literal('snapshot'),
    version: z.literal(SNAPSHOT_STREAM_VERSION),
    clusterId: z.string().nullable(),
    index: z.number().int().nonnegative(),
    term: z.number().int().nonnegative(),
    config: z.object({ voters: z.array(z.string()), learners: z.array(z.string()) }).strict(),
    members: z.record(z.string(), z.unknown()),
  })
  .strict();

const TrailerSchema = z
  .object({
    kind: z.literal('trailer'),
    records: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export const SnapshotDescriptorSchema = z
  .object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().positive() })
  .strict();
export type SnapshotDescriptor = z.infer<typeof SnapshotDescriptorSchema>;

export class SnapshotFormatError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: not a valid snapshot: ${detail}`);
    this.name = 'SnapshotFormatError';
  }
}

/** The core's view of a snapshot file: its meta, and a descriptor naming the bytes instead of the state itself. */
export function coreSnapshot(info: SnapshotFileInfo): Snapshot {
  const { index, term, config } = info.header;
  const descriptor: SnapshotDescriptor = { sha256: info.sha256, bytes: info.bytes };
  return { meta: { index, term, config }, data: JSON.stringify(descriptor) };
}

export function parseDescriptor(data: string): SnapshotDescriptor {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    json = undefined;
  }
  const parsed = SnapshotDescriptorSchema.safeParse(json);
  if (!parsed.success) throw new Error(`snapshot data is not a {sha256, bytes} descriptor: ${data.slice(0, 100)}`);
  return parsed.data;
}

/** A state record: JSON text, or raw bytes (stored as a binary record). */
export type SnapshotRecord = string | Buffer;

const BINARY_TAG = Buffer.from([0]);

/** Frames records and hashes them; the sync and async writers below only differ in how they write the bytes. */
class SnapshotEncoder {
  private readonly hash = createHash('sha256');
  private count = 0;
  constructor(private readonly header: SnapshotHeader) {}

  /** The magic and the header record. */
  start(): Buffer[] {
    this.hash.update(SNAPSHOT_STREAM_MAGIC);
    const header = JSON.stringify({ kind: 'snapshot', version: SNAPSHOT_STREAM_VERSION, ...this.header });
    return [SNAPSHOT_STREAM_MAGIC, ...this.record(header)];
  }

  record(record: SnapshotRecord, hashed = true): Buffer[] {
    const parts = typeof record === 'string' ? [Buffer.from(record, 'utf8')] : [BINARY_TAG, record];
    const length = parts.reduce((n, part) => n + part.length, 0);
    if (length > MAX_SNAPSHOT_RECORD_BYTES) {
      throw new Error(`snapshot record of ${length} bytes exceeds ${MAX_SNAPSHOT_RECORD_BYTES}`);
    }
    const prefix = Buffer.allocUnsafe(4);
    prefix.writeUInt32LE(length, 0);
    const out = [prefix, ...parts];
    if (hashed) {
      this.count += 1;
      for (const part of out) this.hash.update(part);
    }
    return out;
  }

  /** The trailer record, and what the file is. */
  finish(): { trailer: Buffer[]; info: (bytes: number) => SnapshotFileInfo } {
    const sha256 = this.hash.digest('hex');
    const trailer = this.record(JSON.stringify({ kind: 'trailer', records: this.count, sha256 }), false);
    return { trailer, info: (bytes) => ({ header: this.header, sha256, bytes }) };
  }
}

/**
 * Writes header, records and trailer to `file` one record at a time, then fsyncs it. The caller renames it into
 * place (RaftStorage.saveSnapshot) so a reader never sees half a snapshot.
 */
export function writeSnapshotFile(
  file: string,
  header: SnapshotHeader,
  records: Iterable<SnapshotRecord>,
): SnapshotFileInfo {
  const encoder = new SnapshotEncoder(header);
  const fd = fs.openSync(file, 'w');
  let position = 0;
  const put = (buffers: Buffer[]) => {
    for (const bytes of buffers) {
      for (let done = 0; done < bytes.length;) {
        done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
      }
      position += bytes.length;
    }
  };
  try {
    put(encoder.start());
    for (const record of records) put(encoder.record(record));
    const { trailer, info } = encoder.finish();
    put(trailer);
    fs.fsyncSync(fd);
    return info(position);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * How much of a snapshot being written may wait in the page cache before it is flushed (SNAPSHOT_FLUSH_BYTES). A
 * 2 GB snapshot written whole and fsynced at the end left gigabytes dirty on three nodes at once: the kernel's
 * writeback then queued every node's Raft-log fdatasync behind them (seconds) and throttled the nodes' own writes
 * (event-loop stalls). Flushing as it goes keeps the disk's queue short; the bytes written are the same.
 */
export const SNAPSHOT_FLUSH_BYTES = 8 * 1024 * 1024;

/**
 * writeSnapshotFile with every write and the fsync on libuv's thread pool, the records pulled from an async source:
 * the event loop (the node's apply loop) keeps running while a large snapshot is written. Flushed every
 * SNAPSHOT_FLUSH_BYTES on the way.
 */
export async function writeSnapshotFileAsync(
  file: string,
  header: SnapshotHeader,
  records: AsyncIterable<SnapshotRecord> | Iterable<SnapshotRecord>,
): Promise<SnapshotFileInfo> {
  const encoder = new SnapshotEncoder(header);
  const handle = await fs.promises.open(file, 'w');
  let position = 0;
  let flushedAt = 0;
  const put = async (buffers: Buffer[]) => {
    const { bytesWritten } = await handle.writev(buffers, position);
    const total = buffers.reduce((n, b) => n + b.length, 0);
    if (bytesWritten !== total) throw new Error(`short write to ${file}: ${bytesWritten} of ${total} bytes`);
    position += total;
    if (position - flushedAt >= SNAPSHOT_FLUSH_BYTES) {
      await handle.datasync();
      flushedAt = position;
    }
  };
  try {
    await put(encoder.start());
    for await (const record of records) await put(encoder.record(record));
    const { trailer, info } = encoder.finish();
    await put(trailer);
    await handle.sync();
    return info(position);
  } finally {
    await handle.close();
  }
}

/** A range of a framed snapshot's bytes: held in memory, or at `fileOffset` in the file the frame was made from. */
type FramePart = { at: number; length: number } & ({ bytes: Buffer } | { fileOffset: number });

/** A snapshot file's bytes as a layout over another file (frameSnapshotAsync); `info` as if the file were written. */
export interface FramedSnapshot {
  info: SnapshotFileInfo;
  parts: FramePart[];
}

/**
 * The snapshot file `header` and `records` would make, without writing it: the framing (magic, record prefixes, JSON
 * records, trailer) is kept in memory, and each binary record for which `locate` names an offset is read again from
 * that file when the bytes are wanted (FramedSnapshotReader). For a leader's copy of its store, sent to a follower,
 * this saves writing the store a second time (2.2 GB at 10 M orders; docs/performance.md#ledger-at-10-m-orders). The
 * records are read once, for the checksum.
 */
export async function frameSnapshotAsync(
  header: SnapshotHeader,
  records: AsyncIterable<SnapshotRecord>,
  locate: (record: Buffer) => number | undefined,
): Promise<FramedSnapshot> {
  const encoder = new SnapshotEncoder(header);
  const parts: FramePart[] = [];
  let position = 0;
  const put = (buffers: Buffer[], record?: Buffer) => {
    for (const bytes of buffers) {
      const fileOffset = bytes === record ? locate(record) : undefined;
      parts.push(
        fileOffset === undefined
          ? { at: position, length: bytes.length, bytes: Buffer.from(bytes) }
          : { at: position, length: bytes.length, fileOffset },
      );
      position += bytes.length;
    }
  };
  put(encoder.start());
  for await (const record of records) put(encoder.record(record), Buffer.isBuffer(record) ? record : undefined);
  const { trailer, info } = encoder.finish();
  put(trailer);
  return { info: info(position), parts };
}

/** Reads a FramedSnapshot's bytes by position, as fs.readSync reads a file's; `file` is the one it was framed from. */
export class FramedSnapshotReader {
  private readonly fd: number;

  constructor(
    private readonly framed: FramedSnapshot,
    file: string,
  ) {
    this.fd = fs.openSync(file, 'r');
  }

  get size(): number {
    return this.framed.info.bytes;
  }

  /** Copies up to `length` bytes at `position` into `buf` at `offset`; the number copied (0 at the end). */
  read(buf: Buffer, offset: number, length: number, position: number): number {
    const { parts } = this.framed;
    // The last part starting at or before `position` (binary search; parts are in order and contiguous).
    let lo = 0;
    let hi = parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (parts[mid]!.at <= position) lo = mid;
      else hi = mid - 1;
    }
    const part = parts[lo];
    if (!part || position >= this.size) return 0;
    const skip = position - part.at;
    const n = Math.min(length, part.length - skip);
    if ('bytes' in part) return part.bytes.copy(buf, offset, skip, skip + n);
    return fs.readSync(this.fd, buf, offset, n, part.fileOffset + skip);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Reads records one by one with small positioned reads; the caller decides what to hash. */
class RecordReader {
  private readonly fd: number;
  readonly size: number;
  offset = SNAPSHOT_STREAM_MAGIC.length;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'r');
    this.size = fs.fstatSync(this.fd).size;
    const magic = this.read(0, SNAPSHOT_STREAM_MAGIC.length);
    if (!magic.equals(SNAPSHOT_STREAM_MAGIC)) {
      this.close();
      throw new SnapshotFormatError(file, 'bad magic');
    }
  }

  read(at: number, length: number): Buffer {
    if (at + length > this.size) throw new SnapshotFormatError(this.file, `truncated at byte ${this.size}`);
    const buf = Buffer.allocUnsafe(length);
    for (let got = 0; got < length;) {
      const n = fs.readSync(this.fd, buf, got, length - got, at + got);
      if (n === 0) throw new SnapshotFormatError(this.file, `truncated at byte ${at + got}`);
      got += n;
    }
    return buf;
  }

  /** The next record's length prefix and body bytes, or undefined at the end of the file. */
  next(): { prefix: Buffer; body: Buffer; at: number } | undefined {
    if (this.offset >= this.size) return undefined;
    const at = this.offset;
    const prefix = this.read(at, 4);
    const length = prefix.readUInt32LE(0);
    if (length > MAX_SNAPSHOT_RECORD_BYTES) {
      throw new SnapshotFormatError(this.file, `implausible record length ${length} at byte ${at}`);
    }
    const body = this.read(at + 4, length);
    this.offset = at + 4 + length;
    return { prefix, body, at };
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** A record's body: parsed JSON, or the raw bytes of a binary record (a Buffer). */
function parseBody(file: string, body: Buffer, at: number): unknown {
  if (body[0] === 0) return body.subarray(1);
  return parseJson(file, body, at);
}

function parseJson(file: string, body: Buffer, at: number): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new SnapshotFormatError(file, `record at byte ${at} is not JSON`);
  }
}

function parseHeader(file: string, json: unknown): SnapshotHeader {
  const parsed = HeaderSchema.safeParse(json);
  if (!parsed.success) throw new SnapshotFormatError(file, `bad header record: ${parsed.error.message}`);
  const { kind: _kind, version: _version, ...header } = parsed.data;
  return header;
}

function parseTrailer(file: string, json: unknown): z.infer<typeof TrailerSchema> {
  const parsed = TrailerSchema.safeParse(json);
  if (!parsed.success) throw new SnapshotFormatError(file, `bad trailer record: ${parsed.error.message}`);
  return parsed.data;
}

/** Checks a trailer against the bytes' sha256 and the record count; `expectedSha256` is what the sender named. */
function checkTrailer(
  file: string,
  trailer: z.infer<typeof TrailerSchema>,
  sha256: string,
  count: number,
  expectedSha256: string | undefined,
): void {
  if (trailer.sha256 !== sha256 || (expectedSha256 !== undefined && expectedSha256 !== sha256)) {
    throw new SnapshotFormatError(
      file,
      `checksum mismatch: the bytes hash to ${sha256}, the trailer says ${trailer.sha256}` +
        (expectedSha256 !== undefined ? `, the sender said ${expectedSha256}` : ''),
    );
  }
  if (trailer.records !== count) {
    throw new SnapshotFormatError(file, `${count} records, the trailer says ${trailer.records}`);
  }
}

/** A trailer record is about 120 bytes; the end of the file is searched this far back for it. */
const TRAILER_SEARCH_BYTES = 1024;

/**
 * Header and trailer only (no checksum pass): what RaftStorage.open and saveSnapshot need to know without reading the
 * state. Two small reads whatever the file's size: walking every record's length prefix instead cost one read per
 * chunk (2,000 for a 2 GB snapshot of 1 MiB chunks), on the apply loop, each a disk read once the file had left the
 * page cache.
 */
export function readSnapshotInfo(file: string): SnapshotFileInfo {
  const reader = new RecordReader(file);
  try {
    const first = reader.next();
    if (!first) throw new SnapshotFormatError(file, 'no header record');
    const header = parseHeader(file, parseJson(file, first.body, first.at));
    const trailer = parseTrailer(file, parseJson(file, ...findTrailer(reader, reader.offset)));
    return { header, sha256: trailer.sha256, bytes: reader.size };
  } finally {
    reader.close();
  }
}

/**
 * The trailer's body and offset, found from the end of the file: the last record is the one whose length prefix
 * names exactly the bytes left after it. Searching backwards, the first such prefix is the trailer's, because every
 * later 4-byte window lies in its JSON body (or straddles prefix and body) and reads as at least 0x20000000.
 */
function findTrailer(reader: RecordReader, notBefore: number): [Buffer, number] {
  const start = Math.max(notBefore, reader.size - TRAILER_SEARCH_BYTES);
  const tail = reader.read(start, reader.size - start);
  for (let at = tail.length - 5; at >= 0; at--) {
    if (tail.readUInt32LE(at) === tail.length - at - 4) return [tail.subarray(at + 4), start + at];
  }
  throw new SnapshotFormatError(reader.file, `no trailer record at the end (${reader.size} bytes)`);
}

/**
 * The state machine's records (parsed JSON, or a Buffer for a binary record; header and trailer excluded), read one
 * at a time. The checksum and the
 * record count are checked when the trailer is reached, so a consumer must finish the iteration before trusting
 * what it built (LedgerStateMachine.restoreFrom does). `expectedSha256` also binds the bytes to a descriptor.
 */
export function* readSnapshotRecords(
  file: string,
  onHeader: (header: SnapshotHeader) => void,
  expectedSha256?: string,
): Generator<unknown> {
  const reader = new RecordReader(file);
  try {
    const hash = createHash('sha256').update(SNAPSHOT_STREAM_MAGIC);
    let count = 0;
    for (let record = reader.next(); record; record = reader.next()) {
      const json = parseBody(file, record.body, record.at);
      if (reader.offset === reader.size) {
        checkTrailer(file, parseTrailer(file, json), hash.digest('hex'), count, expectedSha256);
        return;
      }
      hash.update(record.prefix).update(record.body);
      count += 1;
      if (count === 1) onHeader(parseHeader(file, json));
      else yield json;
    }
    throw new SnapshotFormatError(file, 'no trailer record');
  } finally {
    reader.close();
  }
}

/** Where a SnapshotStreamParser hands what it reads, as each record completes. */
export interface SnapshotStreamSink {
  /** The header record, checked against the format's schema. */
  header(header: SnapshotHeader): void;
  /** Each state record in order: parsed JSON, or a binary record's bytes (a Buffer, valid only during the call). */
  record(record: unknown): void;
}

/**
 * readSnapshotRecords for bytes as they arrive (a transfer's chunks, cut anywhere): the same checks, made on the
 * way, so a receiver can put each record where it belongs instead of keeping the stream in a file to read back
 * (server/snapshot-transfer.ts). `bytes` is the stream's announced size: the record ending there is the trailer.
 * A record is handed over once it is whole (at most MAX_SNAPSHOT_RECORD_BYTES held). Throws SnapshotFormatError
 * naming `name` on anything malformed; end() checks the trailer once the last byte is in.
 */
export class SnapshotStreamParser {
  private readonly hash = createHash('sha256');
  private position = 0;
  private count = 0;
  /** The unit being filled: the magic, a length prefix, or a record's body. */
  private unit: { kind: 'magic' | 'prefix' | 'body'; buf: Buffer; filled: number; at: number };
  private trailer: z.infer<typeof TrailerSchema> | null = null;

  constructor(
    private readonly name: string,
    private readonly bytes: number,
    private readonly sink: SnapshotStreamSink,
  ) {
    this.unit = { kind: 'magic', buf: Buffer.allocUnsafe(SNAPSHOT_STREAM_MAGIC.length), filled: 0, at: 0 };
  }

  push(data: Buffer): void {
    if (this.position + data.length > this.bytes) {
      throw new SnapshotFormatError(this.name, `more than the ${this.bytes} bytes announced`);
    }
    for (let used = 0; used < data.length;) {
      const unit = this.unit;
      const n = Math.min(unit.buf.length - unit.filled, data.length - used);
      data.copy(unit.buf, unit.filled, used, used + n);
      unit.filled += n;
      used += n;
      this.position += n;
      if (unit.filled === unit.buf.length) this.complete(unit.kind, unit.buf, unit.at);
    }
  }

  /** After the last byte: checks the trailer against the bytes and `expectedSha256`; returns the sha256. */
  end(expectedSha256?: string): string {
    if (this.position !== this.bytes || !this.trailer) {
      throw new SnapshotFormatError(this.name, `truncated at byte ${this.position} of ${this.bytes}`);
    }
    const sha256 = this.hash.digest('hex');
    checkTrailer(this.name, this.trailer, sha256, this.count, expectedSha256);
    return sha256;
  }

  private complete(kind: 'magic' | 'prefix' | 'body', buf: Buffer, at: number): void {
    if (kind === 'magic') {
      if (!buf.equals(SNAPSHOT_STREAM_MAGIC)) throw new SnapshotFormatError(this.name, 'bad magic');
      this.hash.update(buf);
      return this.expect('prefix', 4);
    }
    if (kind === 'prefix') {
      const length = buf.readUInt32LE(0);
      if (length > MAX_SNAPSHOT_RECORD_BYTES || this.position + length > this.bytes) {
        throw new SnapshotFormatError(this.name, `implausible record length ${length} at byte ${at}`);
      }
      // The record ending the stream is the trailer, which the checksum does not cover.
      if (this.position + length < this.bytes) this.hash.update(buf);
      this.expect('body', length, at);
      if (length === 0) this.complete('body', this.unit.buf, at);
      return;
    }
    if (this.position === this.bytes) {
      this.trailer = parseTrailer(this.name, parseJson(this.name, buf, at));
      return;
    }
    this.hash.update(buf);
    this.count += 1;
    if (this.count === 1) this.sink.header(parseHeader(this.name, parseJson(this.name, buf, at)));
    else this.sink.record(parseBody(this.name, buf, at));
    this.expect('prefix', 4);
  }

  private expect(kind: 'prefix' | 'body', length: number, at = this.position): void {
    this.unit = { kind, buf: Buffer.allocUnsafe(length), filled: 0, at };
  }
}
