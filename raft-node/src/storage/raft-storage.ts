/*
 * Durable Raft storage: the log and the hard state in append-only segment files, plus one snapshot file.
 *
 * Directory layout
 *   raft.log        the active segment: records framed as described in records.ts (length, CRC-32, batch, type,
 *                   flags, JSON body).
 *                   The first record is always `base` {baseIndex, baseTerm}: the file's entries start at
 *                   baseIndex + 1. Then `entry` and `hard state` records in the order they were written.
 *                   An entry whose index is at or below the last one replaces that suffix (a conflicting tail
 *                   is cut by appending, never by rewriting in place); the last hard state record wins.
 *   raft.log.<base> sealed segments (base = the segment's base index, zero-padded): earlier active segments, synced
 *                   whole before they were sealed. Read in order before raft.log; each one's base is where the one
 *                   before it ends, and together they are one log (a later segment may cut the tail of an earlier
 *                   one the same way a later batch does).
 *   snapshot        the snapshot stream (snapshot-stream.ts): header, state records, trailer with a sha256.
 *   synced          the synced mark: how far raft.log was fdatasync'd (synced-mark.ts).
 *   *.tmp           files being written; a leftover one (a crash mid-write) is deleted on open.
 *
 * Why one file: entries and hard state land in the same write and the same fdatasync, so a Ready batch costs
 * one sync (group commit). append() and setHardState() only buffer; sync() writes the batch and fdatasyncs it;
 * syncInBackground() does the same with the fdatasync on libuv's thread pool, the storage refusing use meanwhile.
 *
 * Batches and torn writes: every record carries the number of the sync() that wrote it and the batch's last
 * record is flagged. Only the last batch can be torn by a crash, since a batch is written only after the one
 * before it was synced. So on open, a bad record (short, or failing its checksum) is
 *   - a torn tail when no intact record of a later batch follows it: the file is cut back to the end of the last
 *     complete batch (an unfinished batch was never synced, so nothing in it was acknowledged);
 *   - a corrupted middle otherwise: open() refuses with StorageCorruptionError naming the file and byte offset.
 * The file's first batch is written to a temp file and renamed after fsync, so damage there is always refused.
 *
 * Synced batches: a bad record is also refused when it lies below the synced mark (synced-mark.ts: how far the
 * file was fdatasync'd, rewritten after every sync), or when the log ends before that mark: that batch was
 * durable and may have been acknowledged, so cutting it silently could lose acknowledged entries. Both refusals
 * (and the "later batch follows" one) are a WalDamagedError saying what truncating would drop; an operator
 * accepts the loss with `npm run wal:repair -- --data-dir DIR --yes` or RAFT_WAL_ALLOW_TRUNCATE=true
 * (StorageOptions.allowDamagedTruncate), after which the node catches up from the leader.
 *
 * Compaction: saveSnapshot() renames a snapshot file the node wrote and fsynced (snapshotTempPath, or a received
 * one) over `snapshot` and fsyncs the directory; then, when the log holds the snapshot's index, it seals raft.log
 * (synced, renamed to raft.log.<base>, a new raft.log holding only the base and the hard state) and deletes the
 * sealed segments the snapshot covers whole. Nothing is rewritten, so compaction costs the same however many entries
 * arrived while the snapshot was taken (in the background: server/node.ts). Entries a snapshot covers may stay on disk
 * in a segment that also holds later ones; open() skips them. A crash between the steps leaves an active segment that
 * starts before the snapshot; open() seals it then. A snapshot the log does not match (an installed one) replaces the
 * whole log: every segment is deleted and raft.log rewritten to the base and the hard state.
 *
 * Entries after the snapshot are also kept in memory (to answer entries()); their size is bounded by the compaction
 * threshold.
 *
 * Preallocation: the file is extended with zeros ahead of the data (preallocateBytes, 1 MiB by default), so most
 * fdatasync calls only flush data, not a new file size (about a third faster on ext4). Records never end in a
 * zero byte (a body is a JSON object), so on open the trailing zeros are set aside before the scan.
 *
 * I/O errors: after a failed write or fdatasync the file's durable state is unknown (a retried fsync can report
 * success for lost pages), so the storage refuses all further calls and the node must restart and recover.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../core';
import { decodeRecord, encodeBatch, RecordType, type DecodedRecord, type LogBase, type RecordBody } from './records';
import { coreSnapshot, readSnapshotInfo, SnapshotFormatError } from './snapshot-stream';
import { readSyncedMark, SyncedMark } from './synced-mark';

export const LOG_FILE = 'raft.log';
const SEGMENT_NAME = /^raft\.log\.(\d{20})$/;
const segmentName = (baseIndex: number) => `${LOG_FILE}.${String(baseIndex).padStart(20, '0')}`;
export const DEFAULT_PREALLOCATE_BYTES = 1024 * 1024;
export const SNAPSHOT_FILE = 'snapshot';
const TMP_SUFFIX = '.tmp';
/** Where the node writes a snapshot it takes, and where it receives one, before saveSnapshot() renames it. */
export const SNAPSHOT_TAKE_FILE = SNAPSHOT_FILE + '.take' + TMP_SUFFIX;
export const SNAPSHOT_RECEIVE_FILE = SNAPSHOT_FILE + '.recv' + TMP_SUFFIX;
/** Where a received snapshot's store is written (SnapshotReceiver's storePath). */
export const SNAPSHOT_RECEIVE_STORE_FILE = SNAPSHOT_FILE + '.recv.store' + TMP_SUFFIX;

export class StorageCorruptionError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    detail: string,
  ) {
    super(`${file}: corrupted data at byte offset ${offset}: ${detail}. Refusing to start on damaged state.`);
    this.name = 'StorageCorruptionError';
  }
}

/**
 * Damage to raft.log that a torn write cannot explain (a synced batch): cutting the file at `truncateAt` would
 * drop `damagedBytes` bytes holding at least `intactEntries` readable entries. Repairable by that cut only.
 */
export class WalDamagedError extends StorageCorruptionError {
  constructor(
    file: string,
    offset: number,
    detail: string,
    readonly truncateAt: number,
    readonly damagedBytes: number,
    readonly intactEntries: number,
  ) {
    super(
      file,
      offset,
      `${detail}; truncating the log to byte offset ${truncateAt} would drop walDamagedBytes=${damagedBytes} ` +
        `bytes holding at least ${intactEntries} readable entries`,
    );
    this.message +=
      ` To accept the loss (the node then catches up from the leader): npm run wal:repair -- --data-dir ` +
      `${path.dirname(file)} --yes, or start once with RAFT_WAL_ALLOW_TRUNCATE=true.`;
    this.name = 'WalDamagedError';
  }
}

export interface RecoveryInfo {
  /** Bytes cut from the end of raft.log: a torn last batch, or (allowDamagedTruncate) damaged synced data. */
  droppedTailBytes: number;
  /** Why the tail was dropped, when it was. */
  droppedTailReason?: string;
  /** Set when the dropped bytes were synced data cut under allowDamagedTruncate: acknowledged entries may be lost. */
  damagedSynced?: WalDamagedError;
  /** The log still held entries a saved snapshot covers (a crash between the two steps); open() compacted it. */
  finishedCompaction: boolean;
}

export interface RestoredState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, in index order. */
  entries: Entry[];
  recovery: RecoveryInfo;
}

export interface StorageOptions {
  /** How far ahead of the data the log file is extended with zeros; 0 turns preallocation off. */
  preallocateBytes?: number;
  /**
   * Cut damaged synced data (see WalDamagedError) instead of refusing: RAFT_WAL_ALLOW_TRUNCATE=true or
   * `npm run wal:repair -- --yes`. Entries this node acknowledged may be lost; it catches up from the leader.
   */
  allowDamagedTruncate?: boolean;
}

const INITIAL_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

export class RaftStorage {
  readonly restored: RestoredState;
  private readonly logPath: string;
  private fd: number;
  private base: LogBase;
  private retained: Entry[];
  private current: HardState;
  private latestSnapshot: Snapshot | null;
  private pending: RecordBody[] = [];
  private nextBatch: number;
  /** Where the next batch is written: the end of the records (the file may extend further, zero-filled). */
  private logEnd: number;
  private allocatedEnd: number;
  private readonly preallocateBytes: number;
  private readonly mark: SyncedMark;
  private failure: Error | undefined;
  private closed = false;
  /** A syncInBackground() fdatasync is running. */
  private syncing = false;
  /** Sealed segments, oldest first, by base index. */
  private sealed: number[];
  /** The base index of raft.log (the active segment) itself. */
  private activeBase: number;

  private constructor(
    private readonly dir: string,
    state: {
      base: LogBase;
      entries: Entry[];
      hardState: HardState;
      snapshot: Snapshot | null;
      nextBatch: number;
      logEnd: number;
      mark: SyncedMark;
      sealed: number[];
      activeBase: number;
    },
    recovery: RecoveryInfo,
    options: StorageOptions,
  ) {
    this.logPath = path.join(dir, LOG_FILE);
    this.base = state.base;
    this.retained = state.entries;
    this.current = state.hardState;
    this.latestSnapshot = state.snapshot;
    this.nextBatch = state.nextBatch;
    this.mark = state.mark;
    this.sealed = state.sealed;
    this.activeBase = state.activeBase;
    this.preallocateBytes = options.preallocateBytes ?? DEFAULT_PREALLOCATE_BYTES;
    this.fd = fs.openSync(this.logPath, 'r+');
    this.logEnd = state.logEnd;
    this.allocatedEnd = fs.fstatSync(this.fd).size;
    this.restored = {
      hardState: { ...state.hardState },
      snapshot: state.snapshot,
      entries: state.entries.slice(),
      recovery,
    };
  }

  /** Opens (creating if needed) the storage in `dir` and recovers its state; throws StorageCorruptionError on damage. */
  static open(dir: string, options: StorageOptions = {}): RaftStorage {
    if (!fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      // The new directory's own entry must be durable too, or a crash could lose the whole data dir.
      fsyncPath(path.dirname(path.resolve(dir)));
    }
    const logPath = path.join(dir, LOG_FILE);
    // Snapshots being taken, received or waiting for install are all named snapshot.*.tmp (a received store with
    // SQLite's -wal and -shm files when a crash came while it was being checked).
    const leftovers = fs
      .readdirSync(dir)
      .filter((f) => f === LOG_FILE + TMP_SUFFIX || /^snapshot(\..+)?\.tmp(-wal|-shm)?$/.test(f));
    for (const leftover of leftovers) fs.rmSync(path.join(dir, leftover), { force: true });

    const snapshot = readSnapshotFile(path.join(dir, SNAPSHOT_FILE));
    const sealed = readSealed(dir);
    if (!fs.existsSync(logPath)) {
      if (snapshot && !sealed.log) {
        throw new StorageCorruptionError(logPath, 0, 'the log file is missing although a snapshot exists');
      }
      // No log yet, or a crash while sealing raft.log: a new active segment continues where the sealed ones end.
      const { base, entries, hardState } = sealed.log ?? {
        base: { baseIndex: 0, baseTerm: 0 },
        entries: [],
        hardState: INITIAL_HARD_STATE,
      };
      writeFileAtomically(dir, LOG_FILE, encodeBatch(initialBatch(endOf(base, entries), hardState, []), 1));
    }

    const { buf, scanned, damage } = assessLog(dir, sealed.log);
    if (damage && !options.allowDamagedTruncate) throw damage;
    const mark = new SyncedMark(dir);
    try {
      const recovery: RecoveryInfo = { droppedTailBytes: 0, finishedCompaction: false };
      // Lowered before the cut: a crash in between leaves damage above the mark, which the next open cuts as torn.
      if (damage) mark.lower(scanned.validLength);
      if (scanned.validLength < buf.length || damage) {
        fs.truncateSync(logPath, scanned.validLength);
        fsyncPath(logPath);
        recovery.droppedTailBytes = buf.length - scanned.validLength;
        recovery.droppedTailReason = damage?.message ?? scanned.tornReason;
        recovery.damagedSynced = damage;
      }
      const state = settleSnapshot(dir, scanned, snapshot, mark, recovery, sealed.bases);
      // What was read may still be only in the page cache (a crashed process's last write): make it durable, so
      // the mark below never claims more than the disk holds.
      fsyncPath(logPath);
      mark.advance(state.logEnd);
      return new RaftStorage(dir, { ...state, snapshot, mark }, recovery, options);
    } catch (error) {
      mark.close();
      throw error;
    }
  }

  /**
   * Reads raft.log and the synced mark without changing anything: the damage open() would refuse, if any, and
   * the bytes a torn tail would lose. For `npm run wal:repair`. Throws StorageCorruptionError for damage a cut
   * at a batch boundary cannot repair (the first batch, a record out of sequence).
   */
  static inspect(dir: string): { logBytes: number; syncedEnd: number; tornBytes: number; damage?: WalDamagedError } {
    const { buf, scanned, damage, syncedEnd } = assessLog(dir, readSealed(dir).log);
    return {
      logBytes: buf.length,
      syncedEnd,
      tornBytes: damage ? 0 : buf.length - scanned.validLength,
      damage,
    };
  }
  get hardState(): HardState {
    return { ...this.current };
  }

  get snapshot(): Snapshot | null {
    return this.latestSnapshot;
  }

  /** The snapshot file (snapshot-stream.ts) of `snapshot`, when there is one. */
  get snapshotPath(): string {
    return path.join(this.dir, SNAPSHOT_FILE);
  }

  /** Where the node writes or receives a snapshot before saveSnapshot(). */
  tempPath(
    name: typeof SNAPSHOT_TAKE_FILE | typeof SNAPSHOT_RECEIVE_FILE | typeof SNAPSHOT_RECEIVE_STORE_FILE,
  ): string {
    return path.join(this.dir, name);
  }

  get snapshotMeta(): SnapshotMeta {
    return this.latestSnapshot?.meta ?? { index: 0, term: 0, config: { voters: [], learners: [] } };
  }

  /** Index of the first entry held (snapshot index + 1). */
  get firstIndex(): number {
    return this.base.baseIndex + 1;
  }

  get lastIndex(): number {
    return this.base.baseIndex + this.retained.length;
  }

  /** Term of the entry at `index` (also of the snapshot's last index), undefined outside the retained range. */
  term(index: number): number | undefined {
    if (index === this.base.baseIndex) return this.base.baseTerm;
    return this.retained[index - this.base.baseIndex - 1]?.term;
  }

  /** Entries in [lo, hi); throws if the range reaches outside the retained log. */
  entries(lo: number, hi: number): Entry[] {
    if (lo < this.firstIndex || hi > this.lastIndex + 1 || lo > hi) {
      throw new RangeError(
        `entries [${lo}, ${hi}) outside the retained log [${this.firstIndex}, ${this.lastIndex + 1})`,
      );
    }
    return this.retained.slice(lo - this.firstIndex, hi - this.firstIndex);
  }

  /**
   * Buffers entries for the next sync(). They must be consecutive and start at most one past the last index.
   * Entries the log already holds (same index and term, or covered by the snapshot, hence committed) are
   * skipped; the first conflicting one cuts the tail from its index. Cutting a committed entry is refused.
   */
  append(entries: readonly Entry[]): void {
    this.assertUsable();
    entries.forEach((entry, i) => {
      const previous = entries[i - 1];
      if (previous && entry.index !== previous.index + 1) {
        throw new Error(`append: entries are not consecutive (index ${previous.index} is followed by ${entry.index})`);
      }
    });
    let cut = false;
    for (const entry of entries) {
      if (!cut && entry.index <= this.lastIndex) {
        const term = entry.index < this.base.baseIndex ? entry.term : this.term(entry.index);
        if (term === entry.term) continue;
        if (entry.index <= Math.max(this.current.commit, this.base.baseIndex)) {
          throw new Error(
            `append: entry ${entry.index} (term ${entry.term}) conflicts with a committed entry of term ${term} (commit ${this.current.commit}, snapshot ${this.base.baseIndex})`,
          );
        }
        this.retained.length = entry.index - this.firstIndex;
        cut = true;
      }
      if (entry.index !== this.lastIndex + 1) {
        throw new Error(`append: entry ${entry.index} would leave a gap after the last index ${this.lastIndex}`);
      }
      const copy: Entry = { index: entry.index, term: entry.term, type: entry.type, data: entry.data };
      this.retained.push(copy);
      this.pending.push({ type: RecordType.Entry, value: copy });
    }
  }

  /** Buffers the hard state for the next sync() (nothing is written when it did not change). */
  setHardState(hardState: HardState): void {
    this.assertUsable();
    const { term, vote, commit } = hardState;
    if (term === this.current.term && vote === this.current.vote && commit === this.current.commit) return;
    this.current = { term, vote, commit };
    this.pending.push({ type: RecordType.HardState, value: this.current });
  }

  /** Writes everything buffered since the last sync in one write and makes it durable with one fdatasync. */
  sync(): void {
    if (!this.writePending()) return;
    try {
      fs.fdatasyncSync(this.fd);
      this.mark.advance(this.logEnd);
    } catch (error) {
      throw this.failWith(error);
    }
  }

  /**
   * sync() with the fdatasync on libuv's thread pool, so the caller's event loop keeps running meanwhile (a
   * bare fdatasync costs milliseconds). Nothing written is durable before the promise resolves. Until then
   * append(), setHardState(), sync() and saveSnapshot() are refused: a batch is written only after the one
   * before it is durable, which is what lets open() tell a torn tail from a corrupted middle.
   */
  async syncInBackground(): Promise<void> {
    if (!this.writePending()) return;
    this.syncing = true;
    const fd = this.fd;
    const end = this.logEnd;
    try {
      await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      this.mark.advance(end);
    } catch (error) {
      throw this.failWith(error);
    } finally {
      this.syncing = false;
      if (this.closed) this.closeFiles(fd);
    }
  }

  /** Writes the buffered batch (not yet synced); false when there is nothing to write. */
  private writePending(): boolean {
    this.assertUsable();
    if (this.pending.length === 0) return false;
    try {
      const batch = encodeBatch(this.pending, this.nextBatch);
      if (this.logEnd + batch.length > this.allocatedEnd && this.preallocateBytes > 0) {
        const target = this.logEnd + batch.length + this.preallocateBytes;
        writeFully(this.fd, Buffer.alloc(target - this.allocatedEnd), this.allocatedEnd);
        this.allocatedEnd = target;
      }
      writeFully(this.fd, batch, this.logEnd);
      this.logEnd += batch.length;
    } catch (error) {
      throw this.failWith(error);
    }
    this.nextBatch += 1;
    this.pending = [];
    return true;
  }

  /** After a failed write or fdatasync the file's durable state is unknown: refuse everything from now on. */
  private failWith(error: unknown): Error {
    this.failure = error instanceof Error ? error : new Error(String(error));
    return this.failure;
  }

  /**
   * Saves the snapshot atomically, then compacts the log to the entries after it. Entries past the snapshot are
   * kept only when the log holds the snapshot's last entry with the same term (Raft's InstallSnapshot rule);
   * otherwise the whole log is discarded. Anything buffered is made durable too (the log is rewritten).
   */
  saveSnapshot(snapshot: Snapshot, file: string): void {
    this.assertUsable();
    const { index, term } = snapshot.meta;
    const info = readSnapshotInfo(file);
    const expected = coreSnapshot(info);
    if (expected.data !== snapshot.data || info.header.index !== index || info.header.term !== term) {
      throw new Error(
        `saveSnapshot: ${file} holds ${expected.data} at ${info.header.index}/${info.header.term}, not the snapshot given`,
      );
    }
    if (index < this.base.baseIndex) {
      throw new Error(
        `saveSnapshot: snapshot at index ${index} is older than the current one at ${this.base.baseIndex}`,
      );
    }
    try {
      replaceInBackground(file, this.snapshotPath);
      this.latestSnapshot = snapshot;
      const base = { baseIndex: index, baseTerm: term };
      if (logHolds(this.base, this.retained, index, term)) {
        const kept = entriesAfterSnapshot(this.base, this.retained, index, term);
        // Few fsyncs on this path, which runs between two Readies: the seal's one directory fsync also makes the
        // snapshot's rename durable (either rename alone surviving a crash is a state open() accepts).
        if (this.activeBase < this.lastIndex) this.seal();
        else {
          // Anything buffered is made durable too, as the seal would.
          if (this.pending.length > 0) this.sync();
          fsyncPath(this.dir);
        }
        this.base = base;
        this.retained = kept;
        // No directory fsync: a deleted segment that comes back after a crash holds only entries the snapshot covers.
        this.sealed = deleteSegments(this.dir, this.sealed, this.coveredSegments(index), 'background');
      } else {
        // The log does not hold the snapshot's index (an installed snapshot): none of it is kept. The deletions are
        // made durable before the new raft.log, which would not continue a segment that came back.
        fsyncPath(this.dir);
        this.sealed = deleteSegments(this.dir, this.sealed, this.sealed.length);
        this.base = base;
        this.retained = [];
        this.startActive(base);
      }
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
  }

  /** Syncs raft.log whole, renames it to a sealed segment and starts a new, empty one at the log's end. */
  private seal(): void {
    // Every batch written so far was fdatasync'd before the next could be written: only a buffered one needs a sync.
    if (this.pending.length > 0) this.sync();
    const base = { baseIndex: this.lastIndex, baseTerm: this.term(this.lastIndex)! };
    const fresh = encodeBatch(initialBatch(base, this.current, []), 1);
    const tmp = writeTempFile(this.dir, LOG_FILE, fresh);
    // raft.log is about to be replaced by a shorter file: a mark left above its end would read as lost synced data.
    this.mark.lower(0);
    fs.closeSync(this.fd);
    // A crash between the renames leaves no raft.log: open() starts one where the sealed segments end.
    fs.renameSync(this.logPath, path.join(this.dir, segmentName(this.activeBase)));
    fs.renameSync(tmp, this.logPath);
    fsyncPath(this.dir);
    this.mark.advance(fresh.length);
    this.sealed.push(this.activeBase);
    this.openActive(base, fresh.length);
  }

  /** Writes a new raft.log holding `base` and the hard state (the old one, if still open, is closed first). */
  private startActive(base: LogBase): void {
    const fresh = encodeBatch(initialBatch(base, this.current, []), 1);
    try {
      fs.closeSync(this.fd);
    } catch {
      // Already closed by seal().
    }
    this.mark.lower(0);
    writeFileAtomically(this.dir, LOG_FILE, fresh);
    this.mark.advance(fresh.length);
    this.openActive(base, fresh.length);
  }

  /** Takes the new raft.log (holding `base` and the hard state in `length` bytes) as the active segment. */
  private openActive(base: LogBase, length: number): void {
    this.fd = fs.openSync(this.logPath, 'r+');
    this.logEnd = length;
    this.allocatedEnd = length;
    this.activeBase = base.baseIndex;
    this.nextBatch = 2;
    this.pending = [];
  }

  /** How many sealed segments (oldest first) hold only entries at or below `index`. */
  private coveredSegments(index: number): number {
    const ends = [...this.sealed.slice(1), this.activeBase];
    return ends.filter((end) => end <= index).length;
  }

  /** Sealed segments on disk (their base indexes), oldest first. */
  get segments(): number[] {
    return [...this.sealed];
  }

  /** Bytes of records in raft.log (preallocated space and buffered records excluded). */
  get logBytes(): number {
    return this.logEnd;
  }

  /** Syncs what is buffered and closes the file; the storage cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    try {
      if (!this.failure && !this.syncing) this.sync();
    } finally {
      this.closed = true;
      // A background fdatasync still running closes the file when it finishes (see syncInBackground).
      if (!this.syncing) this.closeFiles(this.fd);
    }
  }

  private closeFiles(fd: number): void {
    fs.closeSync(fd);
    this.mark.close();
  }

  private assertUsable(): void {
    if (this.closed) throw new Error(`storage in ${this.dir} is closed`);
    if (this.syncing) throw new Error(`storage in ${this.dir} is busy: a background sync is still running`);
    if (this.failure) {
      throw new Error(`storage in ${this.dir} failed earlier and must be reopened: ${this.failure.message}`);
    }
  }
}

function initialBatch(base: LogBase, hardState: HardState, entries: readonly Entry[]): RecordBody[] {
  return [
    { type: RecordType.Base, value: base },
    { type: RecordType.HardState, value: hardState },
    ...entries.map((value): RecordBody => ({ type: RecordType.Entry, value })),
  ];
}

function entriesAfterSnapshot(base: LogBase, entries: readonly Entry[], index: number, term: number): Entry[] {
  const termAtIndex = index === base.baseIndex ? base.baseTerm : entries[index - base.baseIndex - 1]?.term;
  return termAtIndex === term ? entries.slice(index - base.baseIndex) : [];
}

interface SettledLog {
  base: LogBase;
  entries: Entry[];
  hardState: HardState;
  nextBatch: number;
  logEnd: number;
  sealed: number[];
  activeBase: number;
}

/** Checks the log against the snapshot and finishes a compaction a crash interrupted. */
function settleSnapshot(
  dir: string,
  scanned: ScannedLog,
  snapshot: Snapshot | null,
  mark: SyncedMark,
  recovery: RecoveryInfo,
  sealed: number[],
): SettledLog {
  const logPath = path.join(dir, LOG_FILE);
  const { base, entries, hardState } = scanned;
  const snapshotIndex = snapshot?.meta.index ?? 0;
  const snapshotTerm = snapshot?.meta.term ?? 0;
  if (base.baseIndex > snapshotIndex) {
    throw new StorageCorruptionError(
      logPath,
      0,
      `the log starts after index ${base.baseIndex} but the snapshot covers only up to index ${snapshotIndex}`,
    );
  }
  if (base.baseIndex === snapshotIndex && base.baseTerm !== snapshotTerm) {
    throw new StorageCorruptionError(
      logPath,
      0,
      `the log's base term ${base.baseTerm} at index ${base.baseIndex} disagrees with the snapshot's term ${snapshotTerm}`,
    );
  }
  const settled = { sealed, activeBase: scanned.fileBase.baseIndex };
  if (base.baseIndex === snapshotIndex) {
    return { base, entries, hardState, nextBatch: scanned.lastBatch + 1, logEnd: scanned.validLength, ...settled };
  }
  const newBase = { baseIndex: snapshotIndex, baseTerm: snapshotTerm };
  if (logHolds(base, entries, snapshotIndex, snapshotTerm) && scanned.fileBase.baseIndex >= snapshotIndex) {
    // The usual state between compactions: sealed segments hold entries the snapshot covers, and later ones.
    return {
      base: newBase,
      entries: entriesAfterSnapshot(base, entries, snapshotIndex, snapshotTerm),
      hardState,
      nextBatch: scanned.lastBatch + 1,
      logEnd: scanned.validLength,
      ...settled,
    };
  }
  // Crashed after the snapshot was saved but before the log was sealed or replaced: finish the compaction. The
  // entries after the snapshot (if the log holds it) move to a sealed segment; raft.log starts afresh at the end.
  const kept = entriesAfterSnapshot(base, entries, snapshotIndex, snapshotTerm);
  let remaining = sealed;
  mark.lower(0);
  if (kept.length > 0) {
    fsyncPath(logPath);
    fs.renameSync(logPath, path.join(dir, segmentName(scanned.fileBase.baseIndex)));
    fsyncPath(dir);
    remaining = [...sealed, scanned.fileBase.baseIndex];
  }
  const activeBase = kept.length > 0 ? endOf(base, entries) : newBase;
  const ends = [...remaining.slice(1), activeBase.baseIndex];
  remaining = deleteSegments(
    dir,
    remaining,
    kept.length > 0 ? ends.filter((end) => end <= snapshotIndex).length : remaining.length,
  );
  const fresh = encodeBatch(initialBatch(activeBase, hardState, []), 1);
  writeFileAtomically(dir, LOG_FILE, fresh);
  recovery.finishedCompaction = true;
  return {
    base: newBase,
    entries: kept,
    hardState,
    nextBatch: 2,
    logEnd: fresh.length,
    sealed: remaining,
    activeBase: activeBase.baseIndex,
  };
}

/** The log's base after `entries`: where a segment that continues it starts. */
function endOf(base: LogBase, entries: readonly Entry[]): LogBase {
  const last = entries.at(-1);
  return last ? { baseIndex: last.index, baseTerm: last.term } : base;
}

/** Whether the log (base + entries) holds `index` with `term` (its base counts). */
function logHolds(base: LogBase, entries: readonly Entry[], index: number, term: number): boolean {
  const termAtIndex = index === base.baseIndex ? base.baseTerm : entries[index - base.baseIndex - 1]?.term;
  return termAtIndex === term;
}

/**
 * Deletes the first `count` sealed segments (oldest first); returns the rest. 'durable' waits for the deletions and
 * fsyncs the directory; 'background' unlinks on libuv's thread pool (freeing a large file's blocks takes the
 * filesystem a while) and forgets the segments at once: one that survives a crash is deleted again later.
 */
function deleteSegments(
  dir: string,
  sealed: number[],
  count: number,
  how: 'durable' | 'background' = 'durable',
): number[] {
  if (count === 0) return sealed;
  for (const baseIndex of sealed.slice(0, count)) {
    const file = path.join(dir, segmentName(baseIndex));
    if (how === 'durable') fs.rmSync(file, { force: true });
    else void fs.promises.rm(file, { force: true }).catch(() => undefined);
  }
  if (how === 'durable') fsyncPath(dir);
  return sealed.slice(count);
}

/**
 * Renames `file` over `target` without freeing the old target's blocks on this thread: the old file keeps a second
 * name (`<target>.old.tmp`, a leftover open() deletes) while the rename happens, and is unlinked on the thread pool.
 * A gigabyte snapshot otherwise costs hundreds of milliseconds of unlink inside the rename.
 */
function replaceInBackground(file: string, target: string): void {
  const old = `${target}.old${TMP_SUFFIX}`;
  fs.rmSync(old, { force: true });
  let linked = false;
  try {
    fs.linkSync(target, old);
    linked = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  fs.renameSync(file, target);
  if (linked) void fs.promises.rm(old, { force: true }).catch(() => undefined);
}

interface ReplayedLog {
  base: LogBase;
  entries: Entry[];
  hardState: HardState;
}

/**
 * The sealed segments, read whole and in order: synced before they were sealed, so any damage in them is refused
 * (StorageCorruptionError), never cut. `log` is what they hold together (undefined when there are none).
 */
function readSealed(dir: string): { bases: number[]; log?: ReplayedLog } {
  const bases = fs
    .readdirSync(dir)
    .map((f) => SEGMENT_NAME.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .sort()
    .map(Number);
  let log: ReplayedLog | undefined;
  for (const baseIndex of bases) {
    const file = path.join(dir, segmentName(baseIndex));
    const contents = fs.readFileSync(file);
    const buf = contents.subarray(0, endOfNonZero(contents));
    const scanned = scanLog(file, buf, log);
    if (scanned.tornReason !== undefined || scanned.fileBase.baseIndex !== baseIndex) {
      throw new StorageCorruptionError(
        file,
        scanned.bad?.offset ?? 0,
        scanned.tornReason ?? `the segment's base ${scanned.fileBase.baseIndex} is not the ${baseIndex} its name says`,
      );
    }
    log = { base: scanned.base, entries: scanned.entries, hardState: scanned.hardState };
  }
  return { bases, log };
}

/** Reads raft.log (without its preallocated zeros) and tells a torn tail from damage to synced data. */
function assessLog(
  dir: string,
  prior?: ReplayedLog,
): { buf: Buffer; scanned: ScannedLog; syncedEnd: number; damage?: WalDamagedError } {
  const logPath = path.join(dir, LOG_FILE);
  const contents = fs.readFileSync(logPath);
  const buf = contents.subarray(0, endOfNonZero(contents));
  const scanned = scanLog(logPath, buf, prior);
  const syncedEnd = readSyncedMark(dir);
  let offset: number;
  let detail: string;
  if (scanned.bad?.later) {
    const { later } = scanned.bad;
    offset = scanned.bad.offset;
    detail = `${scanned.bad.reason}, yet an intact record of later batch ${later.batch} follows at offset ${later.offset}, so this is not a torn write`;
  } else if (syncedEnd > scanned.validLength) {
    offset = scanned.bad?.offset ?? scanned.validLength;
    detail = scanned.bad
      ? `${scanned.bad.reason} in data synced up to byte offset ${syncedEnd} (synced mark), so this is not a torn write`
      : `the log's records end at byte offset ${scanned.validLength} but it was synced up to byte offset ${syncedEnd} (synced mark)`;
  } else {
    return { buf, scanned, syncedEnd };
  }
  const damagedBytes = Math.max(buf.length, syncedEnd) - scanned.validLength;
  const entries = countIntactEntries(buf, scanned.validLength);
  return {
    buf,
    scanned,
    syncedEnd,
    damage: new WalDamagedError(logPath, offset, detail, scanned.validLength, damagedBytes, entries),
  };
}

/** Entry records still readable from `from` on (resynchronizing byte by byte past damage): a lower bound. */
function countIntactEntries(buf: Buffer, from: number): number {
  let count = 0;
  let offset = from;
  while (offset < buf.length) {
    const decoded = decodeRecord(buf, offset);
    if (!decoded.ok) {
      offset += 1;
      continue;
    }
    if (decoded.record.body.type === RecordType.Entry) count += 1;
    offset = decoded.record.end;
  }
  return count;
}

interface ScannedLog {
  base: LogBase;
  /** The base record of this file itself (base is the whole log's, from the first segment). */
  fileBase: LogBase;
  entries: Entry[];
  hardState: HardState;
  lastBatch: number;
  /** Bytes up to the end of the last complete batch. */
  validLength: number;
  tornReason?: string;
  /** The first bad record, and an intact record of a later batch after it if there is one (then not torn). */
  bad?: { offset: number; reason: string; later?: DecodedRecord };
}

/** Reads the records, finds a torn or damaged tail (see the comment at the top), and replays the log. */
function scanLog(file: string, buf: Buffer, prior?: ReplayedLog): ScannedLog {
  const records: DecodedRecord[] = [];
  let offset = 0;
  let badReason: string | undefined;
  while (offset < buf.length) {
    const decoded = decodeRecord(buf, offset);
    if (!decoded.ok) {
      badReason = decoded.reason;
      break;
    }
    checkBatchSequence(file, records.at(-1), decoded.record);
    records.push(decoded.record);
    offset = decoded.record.end;
  }

  const last = records.at(-1);
  let tornReason: string | undefined;
  let bad: ScannedLog['bad'];
  const lastComplete = records.findLastIndex((record) => record.lastInBatch);
  if (badReason !== undefined || (last && !last.lastInBatch)) {
    const where = badReason !== undefined ? offset : (last as DecodedRecord).end;
    const reason = badReason ?? 'the last batch ends without its final record';
    if (lastComplete < 0) {
      throw new StorageCorruptionError(
        file,
        where,
        `${reason} inside the file's first batch, which was written atomically`,
      );
    }
    if (badReason !== undefined) {
      // The bad record belongs to the batch after `last` when `last` closed its batch, else to `last`'s batch.
      const badBatch = last ? (last.lastInBatch ? last.batch + 1 : last.batch) : 1;
      bad = { offset, reason, later: findRecordOfLaterBatch(buf, offset + 1, badBatch) };
    }
    records.length = lastComplete + 1;
    tornReason = `${reason} at byte offset ${where}`;
  }

  return { ...replay(file, records, prior), validLength: records.at(-1)?.end ?? 0, tornReason, bad };
}

function checkBatchSequence(file: string, previous: DecodedRecord | undefined, record: DecodedRecord): void {
  const expected = previous === undefined ? 1 : previous.lastInBatch ? previous.batch + 1 : previous.batch;
  if (record.batch !== expected) {
    throw new StorageCorruptionError(
      file,
      record.offset,
      `record of batch ${record.batch} where batch ${expected} was expected`,
    );
  }
}

function findRecordOfLaterBatch(buf: Buffer, from: number, batch: number): DecodedRecord | undefined {
  for (let offset = from; offset < buf.length; offset += 1) {
    const decoded = decodeRecord(buf, offset);
    if (decoded.ok && decoded.record.batch > batch) return decoded.record;
  }
  return undefined;
}

/** Replays a file's records, continuing `prior` (the sealed segments before it) when given. */
function replay(
  file: string,
  records: readonly DecodedRecord[],
  prior?: ReplayedLog,
): ReplayedLog & { fileBase: LogBase; lastBatch: number } {
  const first = records[0];
  if (!first || first.body.type !== RecordType.Base) {
    throw new StorageCorruptionError(file, 0, 'the log does not begin with its base record');
  }
  const fileBase = first.body.value;
  if (prior && fileBase.baseIndex !== endOf(prior.base, prior.entries).baseIndex) {
    throw new StorageCorruptionError(
      file,
      0,
      `the segment starts after index ${fileBase.baseIndex}, but the segments before it end at index ${endOf(prior.base, prior.entries).baseIndex}`,
    );
  }
  const base = prior?.base ?? fileBase;
  const entries: Entry[] = prior ? [...prior.entries] : [];
  let hardState = prior?.hardState ?? INITIAL_HARD_STATE;
  for (const record of records.slice(1)) {
    const { body } = record;
    if (body.type === RecordType.Base) {
      throw new StorageCorruptionError(file, record.offset, 'a second base record');
    } else if (body.type === RecordType.HardState) {
      hardState = body.value;
    } else {
      const position = body.value.index - base.baseIndex - 1;
      if (position < 0 || position > entries.length) {
        throw new StorageCorruptionError(
          file,
          record.offset,
          `entry ${body.value.index} does not follow the log [${base.baseIndex + 1}, ${base.baseIndex + entries.length}]`,
        );
      }
      entries.length = position;
      entries.push(body.value);
    }
  }
  return { base, fileBase, entries, hardState, lastBatch: records.at(-1)?.batch ?? 0 };
}

function readSnapshotFile(snapshotPath: string): Snapshot | null {
  if (!fs.existsSync(snapshotPath)) return null;
  try {
    return coreSnapshot(readSnapshotInfo(snapshotPath));
  } catch (error) {
    if (error instanceof SnapshotFormatError) throw new StorageCorruptionError(snapshotPath, 0, error.message);
    throw error;
  }
}

/** Temp file, fsync, rename over the target, fsync the directory: readers see the old file or the whole new one. */
export function writeFileAtomically(dir: string, name: string, contents: Buffer): void {
  fs.renameSync(writeTempFile(dir, name, contents), path.join(dir, name));
  fsyncPath(dir);
}

/** Writes and fsyncs `<name>.tmp` (deleted as a leftover on open); returns its path. */
function writeTempFile(dir: string, name: string, contents: Buffer): string {
  const tmp = path.join(dir, name) + TMP_SUFFIX;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeFully(fd, contents, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return tmp;
}

/** Writes all of `data` at `position` (a write may take fewer bytes than asked). */
export function writeFully(fd: number, data: Buffer, position: number): void {
  let written = 0;
  while (written < data.length) {
    written += fs.writeSync(fd, data, written, data.length - written, position + written);
  }
}

/** Length of `buf` without its trailing zero bytes (preallocated space). */
function endOfNonZero(buf: Buffer): number {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end -= 1;
  return end;
}

export function fsyncPath(target: string): void {
  const fd = fs.openSync(target, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
