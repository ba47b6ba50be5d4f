import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SnapshotMessage, SnapshotMeta } from '../core';
import type { NodeLogger } from '../logger';
import {
  coreSnapshot,
  FramedSnapshotReader,
  parseDescriptor,
  readSnapshotRecords,
  removeStoreFiles,
  SnapshotStreamParser,
  storeRefRecords,
  StoreIntake,
  writeFully,
  writeSnapshotFile,
  type FramedSnapshot,
  type SnapshotHeader,
} from '../storage';

/*
 * InstallSnapshot in chunks, outside the pure core. The core still emits and accepts one `Snapshot` message, but its
 * data is only the descriptor {sha256, bytes} of the snapshot file (storage/snapshot-stream.ts). The node turns an
 * outgoing Snapshot into a chunked transfer of the file (the Raft paper's offset/data/done), and on the receiving
 * side steps a Snapshot into its core only once every byte is on disk and the checksum verified (SnapshotReceiver).
 *
 * Chunks travel as raw bytes in the binary peer protocol (peer-wire.ts). Flow control: a window of
 * `chunksInFlight` chunks per follower, each acked with the offset the receiver needs next; the sender reads the
 * next chunk from the file as acks come in, so neither side holds more than the window (the receiver writes each
 * chunk to disk as it arrives). A window rather than one chunk at a time keeps the link busy while an ack
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
  from: string;
  sha256: string;
  bytes: number;
  received: number;
  parser: SnapshotStreamParser;
  /** Set with a store path: where the store form's bytes go, written once (write-once catch-up). */
  intake: StoreIntake | null;
  /** The raw stream kept in the receive file, while its form is not the store's (or there is no store path). */
  raw: number | null;
  /** The stream's header record, once read and checked. */
  header: SnapshotHeader | null;
}

/** A verified snapshot waiting for the core: the file the node saves, and the store to install with it, if any. */
export interface ReceivedSnapshot {
  file: string;
  /** A received store (StoreIntake), checked to be at the snapshot's index; `file` is then a compaction point. */
  store?: string;
}

/**
 * Receives chunks and steps the snapshot into the core (deliver) once verified. The stream is parsed as it arrives
 * (SnapshotStreamParser: checksum, record count, the header checked against the chunks and this node's cluster).
 * With `storePath`, a snapshot in the store form (a copy of the leader's order store) is written straight to that
 * store file: the follower writes the state once, and what it saves as its snapshot is a compaction point at the
 * store's index (the state is its own store from then on). Any other form is kept in the receive file, read back
 * through a trial restore, and saved as it is.
 */
export class SnapshotReceiver {
  private current: IncomingTransfer | null = null;
  /** Verified snapshots waiting for the core to accept and install them, by the sha256 of what was delivered. */
  private readonly verified = new Map<string, ReceivedSnapshot>();

  constructor(
    private readonly opts: {
      self: string;
      /** The temp file the raw stream is written to. */
      receivePath: string;
      /** The temp file a store-form snapshot's store is written to; without it every form is kept raw. */
      storePath?: string;
      /** This node's cluster, or null while it has none (a new node joining takes its leader's). */
      clusterId(): string | null;
      /**
       * A trial restore of a raw snapshot's records (throwing on anything inconsistent), so a snapshot that would
       * crash or corrupt the node is refused while the node still has its own state. Without it they are only read.
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
    const error = this.take(t, c) ?? (c.done ? this.finish(t, c) : undefined);
    if (error !== undefined) return ack(0, error);
    ack(c.done ? t.bytes : t.received);
  }

  /** The verified snapshot `data` describes, taken out of the waiting set (the others are removed). */
  takeVerified(data: string): ReceivedSnapshot | undefined {
    const { sha256 } = parseDescriptor(data);
    const received = this.verified.get(sha256);
    this.verified.delete(sha256);
    for (const other of this.verified.values()) {
      fs.rmSync(other.file, { force: true });
      if (other.store) removeStoreFiles(other.store);
    }
    this.verified.clear();
    return received;
  }

  close(): void {
    this.abandon();
  }

  private begin(c: SnapshotChunkMessage): void {
    this.abandon();
    const own = this.opts.clusterId();
    const checkHeader = (h: SnapshotHeader) => {
      this.current!.header = h;
      if (own !== null && c.clusterId !== own) throw new Error(`snapshot is from cluster ${c.clusterId}, not ${own}`);
      if (h.index !== c.meta.index || h.term !== c.meta.term) {
        throw new Error(`the file is snapshot ${h.index}/${h.term}, the chunks said ${c.meta.index}/${c.meta.term}`);
      }
      if ((h.clusterId ?? '') !== c.clusterId) {
        throw new Error(`the file is of cluster ${h.clusterId}, the chunks said ${c.clusterId}`);
      }
      if (h.config.voters.length === 0) throw new Error('snapshot configuration has no voters');
    };
    const intake = this.opts.storePath ? new StoreIntake(this.opts.storePath, checkHeader) : null;
    const sink = intake ?? { header: checkHeader, record: () => undefined };
    this.current = {
      from: c.from,
      sha256: c.sha256,
      bytes: c.bytes,
      received: 0,
      parser: new SnapshotStreamParser(`snapshot from ${c.from}`, c.bytes, sink),
      intake,
      raw: fs.openSync(this.opts.receivePath, 'w'),
      header: null,
    };
  }

  /** Parses a chunk and writes it where it belongs; the reason when the transfer is refused. */
  private take(t: IncomingTransfer, c: SnapshotChunkMessage): string | undefined {
    try {
      t.parser.push(c.data);
      if (t.intake?.form === 'store' && t.raw !== null) {
        // The store form: the few bytes written raw before the form was known are not needed.
        fs.closeSync(t.raw);
        t.raw = null;
        fs.rmSync(this.opts.receivePath, { force: true });
      }
      if (t.raw !== null) writeFully(t.raw, c.data, t.received);
      t.received += c.data.length;
      return undefined;
    } catch (error) {
      return this.refuse(c, error as Error);
    }
  }

  /** The last chunk is in: verifies the snapshot and delivers it to the core; the reason on failure. */
  private finish(t: IncomingTransfer, c: SnapshotChunkMessage): string | undefined {
    let received: ReceivedSnapshot;
    let data: string;
    try {
      if (t.raw === null) [received, data] = this.finishStore(t, c);
      else [received, data] = this.finishRaw(t, c);
    } catch (error) {
      return this.refuse(c, error as Error);
    }
    this.current = null;
    this.verified.set(parseDescriptor(data).sha256, received);
    this.opts.logger.info('received snapshot', { from: c.from, index: c.meta.index, bytes: c.bytes });
    this.opts.deliver({
      type: 'Snapshot',
      from: c.from,
      to: this.opts.self,
      term: c.term,
      snapshot: { meta: c.meta, data },
    });
    return undefined;
  }

  /**
   * A store-form snapshot: checksum and store checked, and a compaction point at its index written to stand for it
   * (what the core gets is that file's descriptor, as after a compaction of its own).
   */
  private finishStore(t: IncomingTransfer, c: SnapshotChunkMessage): [ReceivedSnapshot, string] {
    t.parser.end(c.sha256);
    const state = t.intake!.finish(c.meta.index);
    const file = this.verifiedPath(c);
    const store = file.replace(/\.tmp$/, '.store.tmp');
    fs.renameSync(this.opts.storePath!, store);
    const info = writeSnapshotFile(file, t.header!, storeRefRecords(state.appliedIndex));
    return [{ file, store }, coreSnapshot(info).data];
  }

  /** Any other form: the receive file synced, read back through the trial restore, and kept as it is. */
  private finishRaw(t: IncomingTransfer, c: SnapshotChunkMessage): [ReceivedSnapshot, string] {
    fs.fsyncSync(t.raw!);
    fs.closeSync(t.raw!);
    t.raw = null;
    t.parser.end(c.sha256);
    const records = readSnapshotRecords(this.opts.receivePath, () => undefined, c.sha256);
    this.opts.restore?.(records);
    for (const _record of records) {
      // Drains what the restore left (all of it without one), so the trailer is always checked.
    }
    const file = this.verifiedPath(c);
    fs.renameSync(this.opts.receivePath, file);
    return [{ file }, JSON.stringify({ sha256: c.sha256, bytes: c.bytes })];
  }

  private verifiedPath(c: SnapshotChunkMessage): string {
    return path.join(path.dirname(this.opts.receivePath), `snapshot.${c.sha256.slice(0, 16)}.tmp`);
  }

  private refuse(c: SnapshotChunkMessage, error: Error): string {
    this.abandon();
    this.opts.logger.warn('refused a snapshot that failed verification', { from: c.from, error: error.message });
    return error.message;
  }

  private abandon(): void {
    const t = this.current;
    if (!t) return;
    if (t.raw !== null) fs.closeSync(t.raw);
    fs.rmSync(this.opts.receivePath, { force: true });
    t.intake?.close();
    this.current = null;
  }
}
