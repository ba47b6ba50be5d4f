import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';

/*
 * The synced mark: how far raft.log is known to be durable, so that open() can tell a torn tail (never synced,
 * nothing acknowledged: cut automatically) from damage to a batch that was synced and may have been acknowledged
 * (refused; issue "Ledger cluster safety", finding 7).
 *
 * File `synced`, 16 bytes: "RSM1", u32 CRC-32 of bytes [8, 16), u64 little-endian byte offset of raft.log.
 * Overwritten in place after every fdatasync of raft.log, without an fsync of its own: a crash leaves the newest
 * value or an older one, so the mark is only ever a lower bound of what is durable, never ahead of it (a torn or
 * missing mark reads as 0, which is what a log from before this file existed gets too). The price of not syncing
 * it: after a power loss (not a process crash, whose page cache survives) the last few batches may count as
 * unsynced. Before raft.log is replaced by a shorter file (compaction, recovery) the mark is lowered durably.
 */
export const SYNCED_MARK_FILE = 'synced';
const MAGIC = Buffer.from('RSM1', 'ascii');
const MARK_BYTES = 16;

/** The offset the mark in `dir` records; 0 when there is none or it is unreadable. */
export function readSyncedMark(dir: string): number {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path.join(dir, SYNCED_MARK_FILE));
  } catch {
    return 0;
  }
  if (buf.length !== MARK_BYTES || !buf.subarray(0, 4).equals(MAGIC)) return 0;
  if (crc32(buf.subarray(8)) !== buf.readUInt32LE(4)) return 0;
  return Number(buf.readBigUInt64LE(8));
}

export class SyncedMark {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(MARK_BYTES);

  constructor(dir: string) {
    this.fd = fs.openSync(path.join(dir, SYNCED_MARK_FILE), fs.constants.O_CREAT | fs.constants.O_RDWR, 0o600);
    MAGIC.copy(this.buf, 0);
  }

  /** Records that raft.log is durable up to `offset` (call only after its fdatasync returned). */
  advance(offset: number): void {
    this.buf.writeBigUInt64LE(BigInt(offset), 8);
    this.buf.writeUInt32LE(crc32(this.buf.subarray(8)), 4);
    fs.writeSync(this.fd, this.buf, 0, MARK_BYTES, 0);
  }

  /** Lowers the mark durably: before raft.log is replaced by a file that may be shorter. */
  lower(offset: number): void {
    this.advance(offset);
    fs.fdatasyncSync(this.fd);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
