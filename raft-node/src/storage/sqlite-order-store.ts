/*
 * The node's order store (ledger/order-store.ts) in SQLite through better-sqlite3: the dedup index and the order
 * history on disk, so the node's memory stays flat as orders grow. Why SQLite and not LMDB: docs/ledger.md,
 * "The order store" (measured with tools/measure-ledger-stores.cjs).
 *
 * File: <data dir>/ledger.db in WAL mode with synchronous=NORMAL. A commit is not fsynced: the Raft log holds every
 * applied entry durably, and the store records the applied index in the same transaction as the batch, so after any
 * crash the store is a consistent prefix of the log and the node replays the log from its applied index. A power loss
 * can roll the store back to an earlier prefix (never tear it); when that prefix is older than the Raft snapshot (the
 * log before it is gone), the node restores the store from the snapshot file (ledger-snapshot.ts).
 *
 *   orders     rowid (insertion = apply order), id UNIQUE, result JSON
 *   positions  rowid (insertion order), (account, symbol) PRIMARY KEY, quantity
 *   cancels    rowid (insertion = apply order), id UNIQUE, account: the ledger's cancel tombstones (schema 2)
 *   meta       'state' → LedgerCoreState JSON (applied index, last seq, limits, halt)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { OrderResult } from '../../../shared/domain/order';
import type { Position } from '../../../shared/ledger-contract';
import type { CancelTombstone, LedgerCoreState, OrderStore, StoreBatch } from '../ledger/order-store';

export const LEDGER_DB_FILE = 'ledger.db';
/** 2 added the cancels table; a version 1 file is upgraded in place (CREATE TABLE IF NOT EXISTS adds it, empty). */
const SCHEMA_VERSION = 2;
/** SQLite's page cache for a connection unless told otherwise: bounded, whatever the number of orders. */
const DEFAULT_CACHE_MIB = 32;
/**
 * How much is committed between two checkpoints by the worker, in commits plus orders / 8 (about SQLite's default
 * of 1,000 WAL pages at the ~4 pages a small commit writes). Not on a timer: a checkpoint fsyncs the WAL and the
 * database file, and at one client a 100 ms timer's fsyncs competed with every write's Raft-log fdatasync on the
 * same disk (an A/B at 1 client measured 0.72× with it).
 */
const CHECKPOINT_EVERY = 250;
/**
 * The committing connection's own automatic checkpoint, kept only as a backstop (at 4 KiB pages, a WAL of about
 * 32 MB): the checkpoint worker normally keeps the WAL far below it. SQLite's default (1,000 pages) ran a checkpoint,
 * with its fsyncs, inside a commit on the event loop every few hundred commits: 1–39 ms stalls, 84 in 5,000 commits
 * over 1 ms (docs/performance.md#where-one-write-goes).
 */
const BACKSTOP_AUTOCHECKPOINT_PAGES = 8_000;
const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS orders (id TEXT NOT NULL UNIQUE, result TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS positions (
    account TEXT NOT NULL, symbol TEXT NOT NULL, quantity INTEGER NOT NULL, PRIMARY KEY (account, symbol));
  CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS cancels (id TEXT NOT NULL UNIQUE, account TEXT NOT NULL);
`;

export class SqliteOrderStore implements OrderStore {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], string>;
  private readonly putOrder: Database.Statement<[string, string]>;
  private readonly getCancelStmt: Database.Statement<[string], string>;
  private readonly putCancel: Database.Statement<[string, string]>;
  private readonly putPosition: Database.Statement<[string, string, number]>;
  private readonly putState: Database.Statement<[string]>;
  private readonly commitTx: (batch: StoreBatch) => void;
  private readonly checkpointer: Checkpointer;

  /** Opens (creating if needed) the store at `file`, with a page cache of `cacheMiB`. */
  constructor(
    readonly file: string,
    cacheMiB = DEFAULT_CACHE_MIB,
  ) {
    this.db = new Database(file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
      // When the WAL restarts (after a checkpoint caught up), a larger file is cut back to this size.
      this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
      // Negative: a size in KiB rather than pages.
      this.db.pragma(`cache_size = -${Math.round(cacheMiB * 1024)}`);
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version !== 0 && version !== 1 && version !== SCHEMA_VERSION) {
        throw new Error(`${file}: order store schema version ${version}, this node reads ${SCHEMA_VERSION}`);
      }
      this.db.exec(SCHEMA);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.getStmt = this.db.prepare<[string], string>('SELECT result FROM orders WHERE id = ?').pluck();
    this.putOrder = this.db.prepare('INSERT INTO orders (id, result) VALUES (?, ?)');
    this.getCancelStmt = this.db.prepare<[string], string>('SELECT account FROM cancels WHERE id = ?').pluck();
    this.putCancel = this.db.prepare('INSERT INTO cancels (id, account) VALUES (?, ?)');
    this.putPosition = this.db.prepare(
      'INSERT INTO positions (account, symbol, quantity) VALUES (?, ?, ?) ' +
        'ON CONFLICT (account, symbol) DO UPDATE SET quantity = excluded.quantity',
    );
    this.putState = this.db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('state', ?)");
    this.checkpointer = new Checkpointer(file);
    this.commitTx = this.db.transaction((batch: StoreBatch) => {
      for (const result of batch.orders) this.putOrder.run(result.orderId, JSON.stringify(result));
      for (const { orderId, account } of batch.cancels) this.putCancel.run(orderId, account);
      for (const p of batch.positions) this.putPosition.run(p.account, p.symbol, p.quantity);
      this.putState.run(JSON.stringify(batch.state));
    });
  }

  load(): { state: LedgerCoreState; positions: Position[] } | undefined {
    const state = readState(this.db);
    if (!state) return undefined;
    const positions = this.db
      .prepare<[], Position>('SELECT account, symbol, quantity FROM positions ORDER BY rowid')
      .all();
    return { state, positions };
  }

  getOrder(orderId: string): OrderResult | undefined {
    const json = this.getStmt.get(orderId);
    return json === undefined ? undefined : (JSON.parse(json) as OrderResult);
  }

  orderCount(): number {
    return this.db.prepare<[], number>('SELECT count(*) FROM orders').pluck().get() ?? 0;
  }

  *orders(): Iterable<OrderResult> {
    const rows = this.db.prepare<[], string>('SELECT result FROM orders ORDER BY rowid').pluck().iterate();
    for (const json of rows) yield JSON.parse(json) as OrderResult;
  }

  getCancel(orderId: string): string | undefined {
    return this.getCancelStmt.get(orderId);
  }

  cancelCount(): number {
    return this.db.prepare<[], number>('SELECT count(*) FROM cancels').pluck().get() ?? 0;
  }

  *cancels(): Iterable<CancelTombstone> {
    const rows = this.db
      .prepare<[], CancelTombstone>('SELECT id AS orderId, account FROM cancels ORDER BY rowid')
      .iterate();
    for (const row of rows) yield { ...row };
  }

  commit(batch: StoreBatch): void {
    this.commitTx(batch);
    this.checkpointer.committed(1 + batch.orders.length / 8);
  }

  /**
   * Makes every transaction committed so far durable, without blocking the caller's thread: the store's commits are
   * not fsynced (synchronous = NORMAL), which is enough while the Raft log holds the entries to replay, but not for
   * a compaction that drops them (the node's compaction point, server/node.ts). fdatasync of the WAL covers every
   * commit still in it; a commit the checkpoint already moved into the main file was synced there by that checkpoint
   * (SQLite syncs the file before it lets the WAL start over), and the main file's fdatasync covers one being moved
   * meanwhile. Then the directory, whose entry for a WAL file created since the store was opened SQLite does not
   * sync itself. All on the thread pool; fdatasync flushes the file's pages whichever descriptor wrote them.
   */
  async syncToDisk(): Promise<void> {
    for (const name of [`${this.file}-wal`, this.file, path.dirname(this.file)]) {
      let handle: fs.promises.FileHandle;
      try {
        handle = await fs.promises.open(name, 'r');
      } catch (error) {
        // No WAL file: everything is in the main file (the last connection closed, or none has written yet).
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && name !== this.file) continue;
        throw error;
      }
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
    }
  }

  /**
   * A consistent copy of the store at one applied index, written to `target` by a second connection on a worker
   * thread (SQLite's online backup in one step is one read transaction: WAL mode lets this connection keep
   * committing meanwhile, so the apply loop never waits for it). Resolves to the copy's state, whose appliedIndex is
   * the snapshot's index. The backup copies pages as they are; `VACUUM INTO`, used before, rebuilds every table and
   * index, a little slower (a 2.2 GB store alone on the machine: 6.7 s against 7.4 s).
   */
  copyTo(target: string): Promise<LedgerCoreState> {
    fs.rmSync(target, { force: true });
    const flusher = new GrowingFileFlusher(target, COPY_FLUSH_INTERVAL_MS);
    return this.copyOnWorker(target).finally(() => flusher.stop());
  }

  private copyOnWorker(target: string): Promise<LedgerCoreState> {
    return new Promise((resolve, reject) => {
      // An inline CommonJS worker: it runs without the TypeScript loader, so it gets the binding's resolved path.
      const worker = new Worker(COPY_WORKER, {
        eval: true,
        workerData: { module: require.resolve('better-sqlite3'), source: this.file, target },
      });
      worker.once('message', (state: string | null) => {
        if (state === null) reject(new Error(`${this.file}: the store copy holds no state`));
        else resolve(JSON.parse(state) as LedgerCoreState);
      });
      worker.once('error', reject);
      worker.once('exit', (code) => {
        if (code !== 0) reject(new Error(`store copy worker exited with code ${code}`));
      });
    });
  }

  close(): void {
    // The worker's connection closes first: closing the last connection checkpoints and removes the -wal file by
    // name, which must happen here, not later in the worker (a restored store may have a new -wal by then).
    this.checkpointer.stop();
    if (this.db.open) this.db.close();
  }
}

/**
 * Checkpoints the store's WAL on a worker thread with its own connection, every CHECKPOINT_EVERY of commits: a PASSIVE
 * checkpoint never blocks the committing connection (WAL mode lets it append meanwhile), and its fsyncs wait on the
 * worker, not on the event loop that applies entries and answers clients. A crash at any point is safe: an
 * interrupted checkpoint is redone by the next one (SQLite's own guarantee), and the store's durability never
 * rested on it (the Raft log is the durable record).
 */
class Checkpointer {
  private readonly worker: Worker;
  /**
   * The worker's connection, shared with it: 0 not opened yet, 1 opening or open (the worker claimed it), 2 closed,
   * 3 canceled (stop() came first: the worker never opens one). Both sides move it with compareExchange, so a store
   * closed before its worker got going (short-lived stores, a loaded machine) does not wait for the worker to start.
   */
  private readonly state = new Int32Array(new SharedArrayBuffer(4));
  private stopped = false;

  constructor(file: string) {
    this.worker = new Worker(CHECKPOINT_WORKER, {
      eval: true,
      workerData: {
        module: require.resolve('better-sqlite3'),
        file,
        state: this.state,
      },
    });
    // A failed checkpoint is not the apply loop's failure: the backstop checkpoint still bounds the WAL.
    this.worker.on('error', () => undefined);
    this.worker.unref();
  }

  private sinceCheckpoint = 0;

  /** Counts a commit of `weight`; asks the worker for a checkpoint once enough was committed since the last. */
  committed(weight: number): void {
    this.sinceCheckpoint += weight;
    if (this.sinceCheckpoint < CHECKPOINT_EVERY || this.stopped) return;
    this.sinceCheckpoint = 0;
    this.worker.postMessage('checkpoint');
  }

  /** Stops the worker; when its connection is open, waits (at most one checkpoint in progress) until it is closed. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (Atomics.compareExchange(this.state, 0, 0, 3) === 1) {
      this.worker.postMessage('stop');
      Atomics.wait(this.state, 0, 1, 5_000);
    }
    void this.worker.terminate();
  }
}

/**
 * How often the store copy is flushed while the worker writes it. The backup writes the whole store (2 GB at
 * 10 M orders) in one step and syncs only at its end; left to the kernel, three nodes'
 * copies were gigabytes of dirty pages at once, and the writeback they caused held the nodes' Raft-log fdatasyncs
 * for seconds (soak:raft --paced-rate). Flushing from outside keeps at most this interval's writes pending.
 */
export const COPY_FLUSH_INTERVAL_MS = 50;

/**
 * fdatasyncs a file another thread is writing, every `intervalMs` (one at a time, on libuv's thread pool) until
 * stopped: fdatasync flushes the file's dirty pages whichever descriptor wrote them. The file may not exist yet
 * (the writer creates it); a failure only ends the flushing — durability never rested on it.
 */
export class GrowingFileFlusher {
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly file: string,
    private readonly intervalMs: number,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let handle: fs.promises.FileHandle | undefined;
    try {
      while (!this.stopped) {
        // Unref'd: a flusher never keeps a stopping process alive.
        await new Promise((r) => setTimeout(r, this.intervalMs).unref());
        if (this.stopped) break;
        handle ??= await fs.promises.open(this.file, 'r').catch(() => undefined);
        if (handle) await handle.datasync();
      }
    } catch {
      // The file was removed or cannot be synced: nothing to flush.
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  /** Stops flushing; resolves once the last flush ended and the descriptor is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }
}

/**
 * The state a store file holds, read without keeping it open (a restored file). Opened read-write: closing the last
 * connection then removes the -wal and -shm files a read-only one would leave behind.
 */
export function readStoreState(file: string): LedgerCoreState | undefined {
  const db = new Database(file, { fileMustExist: true });
  try {
    return readState(db);
  } finally {
    db.close();
  }
}

function readState(db: Database.Database): LedgerCoreState | undefined {
  const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
  if (!hasMeta) return undefined;
  const json = db.prepare<[], string>("SELECT v FROM meta WHERE k = 'state'").pluck().get();
  return json === undefined ? undefined : (JSON.parse(json) as LedgerCoreState);
}

/** Removes a store file with its WAL and shared-memory files (a stale -wal must never meet a new file). */
export function removeStoreFiles(file: string): void {
  for (const suffix of ['-wal', '-shm', '']) fs.rmSync(file + suffix, { force: true });
}

/** The store copy's nice value (lower priority than the node's thread, which stays at the process's). */
const COPY_NICE = 10;

// A checkpoint that did not catch up (the node committed meanwhile) is repeated shortly until one does: only then
// does the WAL start over from its beginning instead of growing.
const CHECKPOINT_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const state = workerData.state;
let db = null;
let again = null;
function checkpoint() {
  again = null;
  let r;
  try {
    if (db) r = db.pragma('wal_checkpoint(PASSIVE)')[0];
  } catch {}
  if (r && r.log > r.checkpointed) again = setTimeout(checkpoint, 20);
}
parentPort.on('message', (what) => {
  if (what === 'checkpoint') {
    if (again === null) checkpoint();
    return;
  }
  clearTimeout(again);
  try {
    if (db) db.close();
  } finally {
    Atomics.store(state, 0, 2);
    Atomics.notify(state, 0);
    parentPort.close();
  }
});
if (Atomics.compareExchange(state, 0, 0, 1) !== 0) {
  parentPort.close();
} else {
  try {
    const Database = require(workerData.module);
    db = new Database(workerData.file, { fileMustExist: true });
    db.pragma('wal_autocheckpoint = 0');
  } catch {}
}
`;

// Linux's nice value is per thread: setPriority(0, …) lowers only this worker's thread, so on a busy machine the
// node's own thread (applying entries, answering clients) gets a core before the copy does.
const COPY_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
try {
  require('node:os').setPriority(0, ${COPY_NICE});
} catch {}
const Database = require(workerData.module);
async function copy() {
  const db = new Database(workerData.source, { readonly: true, fileMustExist: true });
  try {
    // After the first (empty) step, every page in one step: one read transaction, so the copy is one consistent
    // state (a step-wise backup would restart whenever the node commits between steps).
    await db.backup(workerData.target, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  const copied = new Database(workerData.target, { fileMustExist: true });
  try {
    const row = copied.prepare("SELECT v FROM meta WHERE k = 'state'").pluck().get();
    parentPort.postMessage(row === undefined ? null : row);
  } finally {
    copied.close();
  }
}
// Thrown outside the promise: the worker ends with an 'error' event, which rejects copyTo().
copy().catch((error) => process.nextTick(() => {
  throw error;
}));
`;
