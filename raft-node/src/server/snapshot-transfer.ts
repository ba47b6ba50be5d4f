import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SnapshotMessage, SnapshotMeta } from '../core';
import type { NodeLogger } from '../logger';
import {
  FramedSnapshotReader,
  parseDescriptor,
  readSnapshotRecords,
  type FramedSnapshot,
  type SnapshotHeader,
} from '../storage';

/*
 * InstallSnapshot in chunks, outside the pure core. The core still emits and accepts one `Snapshot` message, but its
 * data is only the descriptor {sha256, bytes} of the snapshot file (storage/snapshot-stream.ts). The node turns an
 * outgoing Snapshot into a chunked transfer of the file (the Raft paper's offset/data/done), and on the receiving
 * side steps the Snapshot into its core only once every byte is on disk and the checksum verified.
 *
 * Chunks travel as raw bytes in the binary peer protocol (peer-wire.ts). Flow control: a window of
 * `chunksInFlight` chunks per follower, each acked with the offset the receiver needs next; the sender reads the
 * next chunk from the file as acks come in, so neither side holds more than the window (the receiver writes each
 * chunk to its file as it arrives). A window rather than one chunk at a time keeps the link busy while an ack
 * makes its way back (the receiver's write, the round trip). The sender holds the file open, so a newer snapshot
 * renamed over it meanwhile does not disturb the transfer (POSIX keeps the old inode alive).
 *
 * Loss and restart: TCP delivers in order, but the transport may drop a message (a reconnect, a full queue, chaos)
 * and the receiver keeps no transfer state across a restart. A chunk that does not continue the transfer the
 * receiver has is answered with the offset it needs (0 when it has none); the sender goes back to that offset once
 * (go-back-N: the acks of the other chunks still in flight repeat the same offset and are ignored). When the
 * acks stop altogether (the last chunks in flight were lost), the core's next Snapshot message after STALL_MS
 * resumes the transfer from the last acked offset.
 */

export interface SnapshotChunkMessage {
  type: 'SnapshotChunk';
  from: string;
  to: string;
  term: number;
  /** The sender's cluster: a follower refuses a snapshot of another cluster before its core sees it. */
  clusterId: string;
  meta: SnapshotMeta;
  sha256: string;
  bytes: number;
  offset: number;
  /** The file's bytes [offset, offset + length). */
  data: Buffer;
  done: boolean;
}

export interface SnapshotAckMessage {
  type: 'SnapshotAck';
  from: string;
  to: string;
  term: number;
  sha256: string;
  /** The offset the receiver needs next (bytes when it has the whole file). */
  next: number;
  /** Set when the receiver refused the transfer (a checksum mismatch, a malformed chunk). */
  error?: string;
}

export type SnapshotTransferMessage = SnapshotChunkMessage | SnapshotAckMessage;

const STALL_MS = 5_000;

/**
 * The file a transfer sends and the snapshot it holds. Its meta (from the file's header) is what the chunks carry and
 * the receiver installs; it may be later than the core message's (a copy of the leader's store made for the
 * transfer, at the store's applied index: node.ts), which the leader's core accepts as the follower's match.
 */
export interface SnapshotSource {
  /** The snapshot file; with `framed`, the file its layout reads the binary records from (a store copy). */
  path: string;
  meta: SnapshotMeta;
  sha256: string;
  bytes: number;
  /** Set when the snapshot file was never written: its bytes are this layout over `path` (frameSnapshotAsync). */
  framed?: FramedSnapshot;
}

/** Positioned reads of a source's bytes, from its file or from its layout. */
interface SourceReader {
  readonly size: number;
  read(buf: Buffer, offset: number, length: number, position: number): number;
  close(): void;
}

function openSource(source: SnapshotSource): SourceReader {
  if (source.framed) return new FramedSnapshotReader(source.framed, source.path);
  const fd = fs.openSync(source.path, 'r');
  return {
    size: fs.fstatSync(fd).size,
    read: (buf, offset, length, position) => fs.readSync(fd, buf, offset, length, position),
    close: () => fs.closeSync(fd),
  };
}

interface OutgoingTransfer {
  reader: SourceReader;
  message: SnapshotMessage;
  meta: SnapshotMeta;
  sha256: string;
  bytes: number;
  /** The receiver has every byte before this offset. */
  acked: number;
  /** Chunks up to this offset are sent (or in flight). */
  sent: number;
  /** The offset last gone back to on a repeated ack; null since progress. */
  rewoundTo: number | null;
  lastProgress: number;
}

export class SnapshotSender {
  private readonly transfers = new Map<string, OutgoingTransfer>();

  constructor(
    private readonly opts: {
      chunkBytes: number;
      /** Chunks sent ahead of the receiver's acks. */
      chunksInFlight: number;
      /** This node's cluster ('' while unknown), sent with every chunk. */
      clusterId(): string;
      send(m: SnapshotChunkMessage): void;
      logger: NodeLogger;
    },
  ) {}

  /** Starts (or keeps going) the transfer of `source` that a core Snapshot message asks for. */
  start(message: SnapshotMessage, source: SnapshotSource): void {
    const { sha256, bytes } = source;
    const current = this.transfers.get(message.to);
    if (current?.sha256 === sha256) {
      if (Date.now() - current.lastProgress < STALL_MS) return;
      // Stalled (the last chunks in flight were lost): resume where the receiver's acks left off, not from 0; a
      // receiver that has lost its partial file answers with 0 and the sender goes back there.
      current.sent = current.acked;
      current.rewoundTo = null;
      current.lastProgress = Date.now();
      this.pump(current);
      return;
    }
    this.stop(message.to);
    let reader: SourceReader;
    try {
      reader = openSource(source);
    } catch (error) {
      // Not expected (a source is dropped only with its node's copy); the core resends after a timeout.
      this.opts.logger.warn('snapshot file cannot be opened; not sending', { error: (error as Error).message });
      return;
    }
    if (reader.size !== bytes) {
      // Not expected (the file and its descriptor change together); the core resends after a timeout.
      reader.close();
      this.opts.logger.warn('snapshot file does not match its descriptor; not sending', { size: reader.size, bytes });
      return;
    }
    const { meta } = source;
    const transfer = {
      reader,
      message,
      meta,
      sha256,
      bytes,
      acked: 0,
      sent: 0,
      rewoundTo: null,
      lastProgress: Date.now(),
    };
    this.transfers.set(message.to, transfer);
    this.opts.logger.info('sending snapshot', { to: message.to, index: meta.index, bytes });
    this.pump(transfer);
  }

  onAck(ack: SnapshotAckMessage): void {
    const transfer = this.transfers.get(ack.from);
    if (!transfer || transfer.sha256 !== ack.sha256) return;
    transfer.lastProgress = Date.now();
    if (ack.error !== undefined) {
      this.opts.logger.warn('follower refused the snapshot', { to: ack.from, error: ack.error });
      this.stop(ack.from);
    } else if (ack.next >= transfer.bytes) {
      this.opts.logger.info('snapshot sent', { to: ack.from, bytes: transfer.bytes });
      this.stop(ack.from);
    } else if (ack.next > transfer.acked) {
      transfer.acked = ack.next;
      transfer.sent = Math.max(transfer.sent, ack.next);
      transfer.rewoundTo = null;
      this.pump(transfer);
    } else if (transfer.rewoundTo !== ack.next) {
      // The receiver lost a chunk or restarted: go back to what it needs, once.
      transfer.acked = ack.next;
      transfer.sent = ack.next;
      transfer.rewoundTo = ack.next;
      this.pump(transfer);
    }
  }

  stop(peer: string): void {
    const transfer = this.transfers.get(peer);
    if (!transfer) return;
    transfer.reader.close();
    this.transfers.delete(peer);
  }

  stopAll(): void {
    for (const peer of [...this.transfers.keys()]) this.stop(peer);
  }

  /** Fills the window: sends chunks from `sent` until `chunksInFlight` are unacked or the file is all sent. */
  private pump(t: OutgoingTransfer): void {
    const window = this.opts.chunkBytes * this.opts.chunksInFlight;
    while (t.sent < t.bytes && t.sent - t.acked < window) t.sent += this.sendChunk(t, t.sent);
  }

  /** Sends the chunk at `offset`; its length. */
  private sendChunk(t: OutgoingTransfer, offset: number): number {
    const length = Math.max(0, Math.min(this.opts.chunkBytes, t.bytes - offset));
    const buf = Buffer.allocUnsafe(length);
    for (let got = 0; got < length;) {
      const n = t.reader.read(buf, got, length - got, offset + got);
      if (n === 0) throw new Error(`snapshot file ended at byte ${offset + got} of ${t.bytes}`);
      got += n;
    }
    const m = t.message;
    this.opts.send({
      type: 'SnapshotChunk',
      from: m.from,
      to: m.to,
      term: m.term,
      clusterId: this.opts.clusterId(),
      meta: t.meta,
      sha256: t.sha256,
      bytes: t.bytes,
      offset,
      data: buf,
      done: offset + length >= t.bytes,
    });
    return length;
  }
}

interface IncomingTransfer {
  fd: number;
  from: string;
  sha256: string;
  bytes: number;
  received: number;
}

/** Receives chunks into a temp file; a verified file becomes a core Snapshot message (deliver). */
export class SnapshotReceiver {
  private current: IncomingTransfer | null = null;
  /** Verified files waiting for the core to accept and install them, by sha256. */
  private readonly verified = new Map<string, string>();

  constructor(
    private readonly opts: {
      self: string;
      /** The temp file chunks are written to. */
      receivePath: string;
      /** This node's cluster, or null while it has none (a new node joining takes its leader's). */
      clusterId(): string | null;
      /**
       * A trial restore of the file's records (throwing on anything inconsistent), so a snapshot that would crash
       * or corrupt the node is refused while the node still has its own state. Without it the records are only read.
       */
      restore?(records: Iterable<unknown>): void;
      send(m: SnapshotAckMessage): void;
      /** Hands the verified snapshot to the core. */
      deliver(m: SnapshotMessage): void;
      logger: NodeLogger;
    },
  ) {}

  onChunk(c: SnapshotChunkMessage): void {
    const ack = (next: number, error?: string) =>
      this.opts.send({
        type: 'SnapshotAck',
        from: this.opts.self,
        to: c.from,
        term: c.term,
        sha256: c.sha256,
        next,
        ...(error !== undefined ? { error } : {}),
      });
    if (c.offset === 0) this.begin(c);
    const t = this.current;
    if (!t || t.sha256 !== c.sha256 || t.from !== c.from || t.received !== c.offset) {
      ack(t && t.sha256 === c.sha256 && t.from === c.from ? t.received : 0);
      return;
    }
    const data = c.data;
    if (t.received + data.length > t.bytes || (c.done && t.received + data.length !== t.bytes)) {
      this.abandon();
      ack(0, `chunk at ${c.offset} of ${data.length} bytes does not fit a ${t.bytes}-byte snapshot`);
      return;
    }
    for (let done = 0; done < data.length;) {
      done += fs.writeSync(t.fd, data, done, data.length - done, t.received + done);
    }
    t.received += data.length;
    if (!c.done) return ack(t.received);
    const error = this.finish(t, c);
    ack(error === undefined ? t.bytes : 0, error);
  }

  /** The verified file holding the snapshot `data` describes, taken out of the waiting set. */
  takeVerified(data: string): string | undefined {
    const { sha256 } = parseDescriptor(data);
    const file = this.verified.get(sha256);
    this.verified.delete(sha256);
    for (const other of this.verified.values()) fs.rmSync(other, { force: true });
    this.verified.clear();
    return file;
  }

  close(): void {
    this.abandon();
  }

  private begin(c: SnapshotChunkMessage): void {
    this.abandon();
    this.current = {
      fd: fs.openSync(this.opts.receivePath, 'w'),
      from: c.from,
      sha256: c.sha256,
      bytes: c.bytes,
      received: 0,
    };
  }

  /**
   * Syncs and verifies the whole file (checksum, header against the chunks and this node's cluster, every record
   * through a trial restore); the reason on failure.
   */
  private finish(t: IncomingTransfer, c: SnapshotChunkMessage): string | undefined {
    fs.fsyncSync(t.fd);
    fs.closeSync(t.fd);
    this.current = null;
    try {
      const own = this.opts.clusterId();
      if (own !== null && c.clusterId !== own) throw new Error(`snapshot is from cluster ${c.clusterId}, not ${own}`);
      const checkHeader = (h: SnapshotHeader) => {
        if (h.index !== c.meta.index || h.term !== c.meta.term) {
          throw new Error(`the file is snapshot ${h.index}/${h.term}, the chunks said ${c.meta.index}/${c.meta.term}`);
        }
        if ((h.clusterId ?? '') !== c.clusterId) {
          throw new Error(`the file is of cluster ${h.clusterId}, the chunks said ${c.clusterId}`);
        }
        if (h.config.voters.length === 0) throw new Error('snapshot configuration has no voters');
      };
      // Reading to the end checks the trailer's sha256 against the bytes and the sender's descriptor.
      const records = readSnapshotRecords(this.opts.receivePath, checkHeader, c.sha256);
      this.opts.restore?.(records);
      for (const _record of records) {
        // Drains what the restore left (all of it without one), so the trailer is always checked.
      }
    } catch (error) {
      fs.rmSync(this.opts.receivePath, { force: true });
      this.opts.logger.warn('refused a snapshot that failed verification', {
        from: c.from,
        error: (error as Error).message,
      });
      return (error as Error).message;
    }
    const file = path.join(path.dirname(this.opts.receivePath), `snapshot.${c.sha256.slice(0, 16)}.tmp`);
    fs.renameSync(this.opts.receivePath, file);
    this.verified.set(c.sha256, file);
    this.opts.logger.info('received snapshot', { from: c.from, index: c.meta.index, bytes: c.bytes });
    this.opts.deliver({
      type: 'Snapshot',
      from: c.from,
      to: this.opts.self,
      term: c.term,
      snapshot: { meta: c.meta, data: JSON.stringify({ sha256: c.sha256, bytes: c.bytes }) },
    });
    return undefined;
  }

  private abandon(): void {
    if (!this.current) return;
    fs.closeSync(this.current.fd);
    fs.rmSync(this.opts.receivePath, { force: true });
    this.current = null;
  }
}
