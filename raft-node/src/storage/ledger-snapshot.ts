/*
 * The ledger's part of a snapshot file (snapshot-stream.ts) when its state is on disk (sqlite-order-store.ts):
 *
 *   {kind: 'ledgerStore', version: 3, appliedIndex, bytes}   a JSON head
 *   binary records                                          the store file, a consistent copy at appliedIndex
 *
 * A leader makes one for a follower without stopping the apply loop: the copy is made by a worker thread
 * (SqliteOrderStore.copyTo) and framed, never written again (frameStoreCopy). The follower writes the store's bytes
 * straight into a store file as they arrive (StoreIntake) and installs it by renames (stageStoreInstall); restoring
 * one from a file (restoreStoreFile) replaces the node's store file. A snapshot of the older JSON form (the ledger's
 * own records, ledger/state-machine.ts) still restores, into a new store file.
 *
 * A node's own compaction point is a third form, with no state in it:
 *
 *   {kind: 'ledgerStoreRef', version: 3, appliedIndex}       the only record
 *
 * It says that the state at the snapshot's index is the node's own store, synced to disk at or past appliedIndex
 * before the log was compacted (server/node.ts). It is never sent: a follower that needs a snapshot gets a copy of
 * the leader's store made for it, and a receiver refuses this form.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { describeZodError } from '../../../shared/domain/order';
import { LedgerStateMachine } from '../ledger';
import type { LedgerCoreState } from '../ledger/order-store';
import { fsyncPath, writeFully } from './raft-storage';
import {
  frameSnapshotAsync,
  type FramedSnapshot,
  type SnapshotHeader,
  type SnapshotRecord,
  type SnapshotStreamSink,
} from './snapshot-stream';
import {
  COPY_FLUSH_INTERVAL_MS,
  GrowingFileFlusher,
  readStoreState,
  removeStoreFiles,
  SqliteOrderStore,
} from './sqlite-order-store';

const STORE_SNAPSHOT_VERSION = 3;

const StoreHeadSchema = z
  .object({
    kind: z.literal('ledgerStore'),
    version: z.literal(STORE_SNAPSHOT_VERSION),
    appliedIndex: z.number().int().nonnegative(),
    bytes: z.number().int().positive(),
  })
  .strict();

const StoreRefSchema = z
  .object({
    kind: z.literal('ledgerStoreRef'),
    version: z.literal(STORE_SNAPSHOT_VERSION),
    appliedIndex: z.number().int().nonnegative(),
  })
  .strict();

/** The one record of a compaction point: the state is this node's own store, synced at or past `appliedIndex`. */
export function storeRefRecords(appliedIndex: number): SnapshotRecord[] {
  return [
    JSON.stringify({
      kind: 'ledgerStoreRef',
      version: STORE_SNAPSHOT_VERSION,
      appliedIndex,
    } satisfies z.infer<typeof StoreRefSchema>),
  ];
}

/** Whether a snapshot's state records are a compaction point (storeRefRecords) rather than a state to restore. */
export function isStoreRef(records: Iterable<unknown>): boolean {
  const iterator = records[Symbol.iterator]();
  try {
    return readHead(iterator).kind === 'ref';
  } finally {
    // Only the head is read: a generator over a file closes it here.
    iterator.return?.();
  }
}

/** The records of a store copy (made by SqliteOrderStore.copyTo), read from disk chunk by chunk. */
export async function* storeSnapshotRecords(
  copyFile: string,
  state: LedgerCoreState,
  chunkBytes: number,
): AsyncGenerator<SnapshotRecord> {
  const handle = await fs.promises.open(copyFile, 'r');
  try {
    const { size } = await handle.stat();
    yield JSON.stringify({
      kind: 'ledgerStore',
      version: STORE_SNAPSHOT_VERSION,
      appliedIndex: state.appliedIndex,
      bytes: size,
    } satisfies z.infer<typeof StoreHeadSchema>);
    for (let offset = 0; offset < size;) {
      const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, size - offset));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) throw new Error(`${copyFile} ended at byte ${offset} of ${size}`);
      yield buffer.subarray(0, bytesRead);
      offset += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/**
 * The snapshot of a store copy that storeSnapshotRecords would give writeSnapshotFileAsync, as a layout over the copy
 * instead of a written file (frameSnapshotAsync): the store's bytes are read from `copyFile` when sent.
 */
export function frameStoreCopy(
  copyFile: string,
  header: SnapshotHeader,
  state: LedgerCoreState,
  chunkBytes: number,
): Promise<FramedSnapshot> {
  let next = 0; // storeSnapshotRecords yields the copy's bytes in file order, from offset 0
  return frameSnapshotAsync(
    header,
    storeSnapshotRecords(copyFile, state, chunkBytes),
    (chunk) => (next += chunk.length) - chunk.length,
  );
}

type Head =
  | { kind: 'json'; first: unknown }
  | { kind: 'store'; head: z.infer<typeof StoreHeadSchema> }
  | { kind: 'ref'; head: z.infer<typeof StoreRefSchema> };

const NOT_TRANSFERABLE =
  "a compaction point (the state is the sender's own store, not in the file): not a snapshot that can be restored";

function readHead(iterator: Iterator<unknown>): Head {
  const first = iterator.next();
  if (first.done) throw new Error('invalid ledger snapshot: no state records');
  const value = first.value as { kind?: unknown };
  if (value?.kind === 'ledgerStoreRef') {
    const head = StoreRefSchema.safeParse(first.value);
    if (!head.success) throw new Error(`invalid ledger snapshot: store reference: ${describeZodError(head.error)}`);
    return { kind: 'ref', head: head.data };
  }
  if (value?.kind !== 'ledgerStore') return { kind: 'json', first: first.value };
  const head = StoreHeadSchema.safeParse(first.value);
  if (!head.success) throw new Error(`invalid ledger snapshot: store head: ${describeZodError(head.error)}`);
  return { kind: 'store', head: head.data };
}

/** Iterates the remaining records, checking that they are binary and add up to the head's byte count. */
function* storeBytes(iterator: Iterator<unknown>, bytes: number): Generator<Buffer> {
  let total = 0;
  for (let next = iterator.next(); !next.done; next = iterator.next()) {
    if (!Buffer.isBuffer(next.value)) throw new Error('invalid ledger snapshot: a JSON record inside the store bytes');
    total += next.value.length;
    if (total > bytes) throw new Error(`invalid ledger snapshot: more than the ${bytes} store bytes the head says`);
    yield next.value;
  }
  if (total !== bytes) throw new Error(`invalid ledger snapshot: ${total} store bytes, the head says ${bytes}`);
}

/**
 * A receiver's check of a snapshot's state records before its core sees it (SnapshotReceiver's trial restore):
 * the JSON form is restored in memory, the store form checked for its shape and length. Throws naming the problem.
 */
export function checkLedgerSnapshot(records: Iterable<unknown>): void {
  const iterator = records[Symbol.iterator]();
  const head = readHead(iterator);
  if (head.kind === 'json') {
    LedgerStateMachine.restoreFrom(withFirst(head.first, iterator));
    return;
  }
  if (head.kind === 'ref') throw new Error(`invalid ledger snapshot: ${NOT_TRANSFERABLE}`);
  for (const _chunk of storeBytes(iterator, head.head.bytes)) {
    // Reading is the check.
  }
}

/**
 * Replaces the store file `dbFile` (closed by the caller) with the state of a snapshot's records, which must be at
 * `index`: written to a temp file, synced, checked, then renamed over the old one. Returns the restored state.
 */
export function restoreStoreFile(records: Iterable<unknown>, dbFile: string, index: number): LedgerCoreState {
  const temp = `${dbFile}.restore.tmp`;
  removeStoreFiles(temp);
  const iterator = records[Symbol.iterator]();
  const head = readHead(iterator);
  if (head.kind === 'ref') throw new Error(`invalid ledger snapshot: ${NOT_TRANSFERABLE}`);
  if (head.kind === 'json') {
    const store = new SqliteOrderStore(temp);
    try {
      LedgerStateMachine.restoreFrom(withFirst(head.first, iterator), store);
    } finally {
      store.close();
    }
  } else {
    const fd = fs.openSync(temp, 'w');
    try {
      let position = 0;
      for (const chunk of storeBytes(iterator, head.head.bytes)) {
        writeFully(fd, chunk, position);
        position += chunk.length;
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  const state = checkStoreAt(temp, index);
  replaceStoreFile(temp, dbFile);
  return state;
}

/** The state of a store file written from a snapshot, which must be at `index` (else the file is removed). */
function checkStoreAt(file: string, index: number): LedgerCoreState {
  const state = readStoreState(file);
  if (state?.appliedIndex !== index) {
    removeStoreFiles(file);
    throw new Error(`invalid ledger snapshot: its store is at index ${state?.appliedIndex ?? 'none'}, not ${index}`);
  }
  fsyncPath(file);
  return state;
}

/** Renames a synced store file over `dbFile` (closed by the caller), its stale -wal and -shm removed first. */
function replaceStoreFile(file: string, dbFile: string): void {
  removeStoreFiles(dbFile);
  fs.renameSync(file, dbFile);
  fsyncPath(path.dirname(dbFile));
}

/**
 * A received snapshot's state records as they arrive (SnapshotStreamParser's sink), for a catch-up that writes the
 * leader's store once: the store form's bytes go straight into `storeFile` instead of into a received snapshot file
 * that the install reads back and writes out again (2.2 GB twice at 10 M orders;
 * docs/performance.md#ledger-at-10-m-orders). The form is known from the first state record: `form` is 'store' from
 * then on, or 'other' for the older JSON form, which this leaves to the caller (it keeps the stream and restores it
 * as before). A compaction point is refused. finish() checks the store and returns its state; close() abandons it.
 */
export class StoreIntake implements SnapshotStreamSink {
  form: 'unknown' | 'store' | 'other' = 'unknown';
  private fd: number | null = null;
  /**
   * Flushes the store file as it grows, as the leader's copy is (SqliteOrderStore.copyTo): 2 GB of dirty pages left
   * to the kernel's writeback would queue the other nodes' Raft-log fdatasyncs behind them, and the sync at the end
   * would hold this node's event loop for as long as writing them takes.
   */
  private flusher: GrowingFileFlusher | null = null;
  private written = 0;
  private expected = 0;

  constructor(
    private readonly storeFile: string,
    private readonly onHeader: (header: SnapshotHeader) => void,
  ) {}

  header(header: SnapshotHeader): void {
    this.onHeader(header);
  }

  record(record: unknown): void {
    if (this.form === 'other') return;
    if (this.form === 'unknown') return this.begin(record);
    if (!Buffer.isBuffer(record)) throw new Error('invalid ledger snapshot: a JSON record inside the store bytes');
    if (this.written + record.length > this.expected) {
      throw new Error(`invalid ledger snapshot: more than the ${this.expected} store bytes the head says`);
    }
    writeFully(this.fd!, record, this.written);
    this.written += record.length;
  }

  /** Once every record is in and the stream's checksum verified: the store synced and checked to be at `index`. */
  finish(index: number): LedgerCoreState {
    if (this.form !== 'store') throw new Error('invalid ledger snapshot: no store in it');
    if (this.written !== this.expected) {
      throw new Error(`invalid ledger snapshot: ${this.written} store bytes, the head says ${this.expected}`);
    }
    this.stopFlushing();
    fs.fsyncSync(this.fd!);
    fs.closeSync(this.fd!);
    this.fd = null;
    return checkStoreAt(this.storeFile, index);
  }

  /** Abandons the transfer: the store file, whole or not, is removed. */
  close(): void {
    this.stopFlushing();
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    removeStoreFiles(this.storeFile);
  }

  private stopFlushing(): void {
    // Not awaited: a flush still running holds its own descriptor, which it closes when it ends.
    void this.flusher?.stop();
    this.flusher = null;
  }

  private begin(first: unknown): void {
    const head = readHead([first][Symbol.iterator]());
    if (head.kind === 'ref') throw new Error(`invalid ledger snapshot: ${NOT_TRANSFERABLE}`);
    if (head.kind === 'json') {
      this.form = 'other';
      return;
    }
    removeStoreFiles(this.storeFile);
    this.fd = fs.openSync(this.storeFile, 'w');
    this.flusher = new GrowingFileFlusher(this.storeFile, COPY_FLUSH_INTERVAL_MS);
    this.expected = head.head.bytes;
    this.form = 'store';
  }
}

/*
 * Installing a received store (StoreIntake) is two renames around saving the snapshot, each step safe to crash
 * after: the store is first renamed to `<dbFile>.install` (stageStoreInstall), then the node saves the snapshot
 * (a compaction point at the store's index: the state is now the node's own store), then the store replaces
 * `dbFile` (finishStoreInstall). On start, settleStoreInstall() finishes an install whose snapshot was saved and
 * discards one whose snapshot was not; the old store and log are then still whole.
 */
const installPath = (dbFile: string) => `${dbFile}.install`;

/** The first step of an install: a checked, synced received store set aside under `dbFile`'s install name. */
export function stageStoreInstall(storeFile: string, dbFile: string): void {
  removeStoreFiles(installPath(dbFile));
  fs.renameSync(storeFile, installPath(dbFile));
  fsyncPath(path.dirname(dbFile));
}

/** The last step of an install, once the snapshot at the staged store's index is saved: it becomes `dbFile`. */
export function finishStoreInstall(dbFile: string): void {
  replaceStoreFile(installPath(dbFile), dbFile);
}

/**
 * At start, before `dbFile` is opened: an install a crash interrupted is finished when the saved snapshot is at the
 * staged store's index (the snapshot was saved, so the log before it is gone and the staged store is the state),
 * and discarded otherwise. Returns what it did, or undefined when no install was staged.
 */
export function settleStoreInstall(
  dbFile: string,
  snapshotIndex: number | undefined,
): 'finished' | 'discarded' | undefined {
  const staged = installPath(dbFile);
  if (!fs.existsSync(staged)) return undefined;
  if (snapshotIndex !== undefined && readStoreState(staged)?.appliedIndex === snapshotIndex) {
    finishStoreInstall(dbFile);
    return 'finished';
  }
  removeStoreFiles(staged);
  return 'discarded';
}

function* withFirst(first: unknown, rest: Iterator<unknown>): Generator<unknown> {
  yield first;
  for (let next = rest.next(); !next.done; next = rest.next()) yield next.value;
}
