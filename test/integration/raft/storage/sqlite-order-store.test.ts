import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LedgerStateMachine } from '../../../../raft-node/src/ledger';
import { encodeCommand } from '../../../../raft-node/src/ledger';
import {
  checkLedgerSnapshot,
  frameStoreCopy,
  FramedSnapshotReader,
  isStoreRef,
  readSnapshotRecords,
  restoreStoreFile,
  SqliteOrderStore,
  storeRefRecords,
  storeSnapshotRecords,
  writeSnapshotFile,
  writeSnapshotFileAsync,
} from '../../../../raft-node/src/storage';
import { describeOrderStoreContract } from '../../../support/order-store-contract';
import { ledgerSnapshotText } from '../../../support/ledger-snapshot';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'order-store-'));
  dirs.push(dir);
  return dir;
}

describeOrderStoreContract('SqliteOrderStore', {
  create: () => new SqliteOrderStore(path.join(tempDir(), 'ledger.db')),
  reopen: (store) => {
    store.close();
    return new SqliteOrderStore((store as SqliteOrderStore).file);
  },
});

function fill(ledger: LedgerStateMachine, orders: number, from = 1): void {
  for (let i = 0; i < orders; i += 100) {
    const batch = Array.from({ length: 100 }, (_, k) => ({
      orderId: `o-${i + k}`,
      account: `a-${(i + k) % 7}`,
      symbol: 'AAPL',
      side: (k % 2 ? 'BUY' : 'SELL') as 'BUY' | 'SELL',
      quantity: 1 + (k % 5),
      price: 10,
    }));
    ledger.apply(encodeCommand({ type: 'orderBatch', orders: batch }), from + i / 100);
    ledger.flush();
  }
}

describe('store snapshots', () => {
  const header = { clusterId: 'c', term: 1, config: { voters: ['n1'], learners: [] }, members: {} };

  it('copies the store at its applied index while it keeps committing, and restores exactly that state', async () => {
    const dir = tempDir();
    const store = new SqliteOrderStore(path.join(dir, 'ledger.db'));
    const ledger = new LedgerStateMachine(store);
    fill(ledger, 5_000);
    const expected = ledgerSnapshotText(ledger);
    const copying = store.copyTo(path.join(dir, 'copy'));
    fill(ledger, 2_000, 51); // commits while the worker copies: the copy is at one index, not torn
    const state = await copying;
    expect(state.appliedIndex).toBeGreaterThanOrEqual(50);
    const snapshotFile = path.join(dir, 'snapshot');
    const info = await writeSnapshotFileAsync(
      snapshotFile,
      { ...header, index: state.appliedIndex },
      storeSnapshotRecords(path.join(dir, 'copy'), state, 4096),
    );
    checkLedgerSnapshot(readSnapshotRecords(snapshotFile, () => undefined, info.sha256));
    const restoredFile = path.join(dir, 'restored.db');
    const restoredState = restoreStoreFile(
      readSnapshotRecords(snapshotFile, () => undefined),
      restoredFile,
      state.appliedIndex,
    );
    expect(restoredState).toEqual(state);
    const restored = new LedgerStateMachine(new SqliteOrderStore(restoredFile));
    // The copy holds a whole number of batches: replaying the ones after it gives the live ledger again.
    fill(restored, 7_000 - state.appliedIndex * 100, state.appliedIndex + 1);
    expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(ledger));
    if (state.appliedIndex === 50) {
      const atFifty = new LedgerStateMachine(new SqliteOrderStore(path.join(dir, 'fifty.db')));
      fill(atFifty, 5_000);
      expect(ledgerSnapshotText(atFifty)).toBe(expected);
      atFifty.close();
    }
    restored.close();
    ledger.close();
  });

  it('frames a store copy without writing it: the same bytes, sha256 and size as the written file, at any read size', async () => {
    const dir = tempDir();
    const store = new SqliteOrderStore(path.join(dir, 'ledger.db'));
    const ledger = new LedgerStateMachine(store);
    fill(ledger, 3_000);
    const copy = path.join(dir, 'copy');
    const state = await store.copyTo(copy);
    const snapshotHeader = { ...header, index: state.appliedIndex };
    const written = path.join(dir, 'snapshot');
    const info = await writeSnapshotFileAsync(written, snapshotHeader, storeSnapshotRecords(copy, state, 4096));
    const framed = await frameStoreCopy(copy, snapshotHeader, state, 4096);
    expect(framed.info).toEqual(info);
    // Only the framing is held in memory; the store's bytes stay in the copy.
    const inMemory = framed.parts.reduce((n, p) => n + ('bytes' in p ? p.length : 0), 0);
    expect(inMemory).toBeLessThan(16 * 1024);
    const expected = fs.readFileSync(written);
    const reader = new FramedSnapshotReader(framed, copy);
    try {
      expect(reader.size).toBe(expected.length);
      // Reads of odd sizes cross every kind of boundary (prefix, tag, chunk, trailer), as the sender's chunks do.
      const readAll = (size: number) => {
        const out = Buffer.alloc(expected.length);
        for (let at = 0; at < out.length;) {
          const n = reader.read(out, at, Math.min(size, out.length - at), at);
          if (n === 0) throw new Error(`read ${size} at ${at} of ${out.length} returned nothing`);
          at += n;
        }
        return out;
      };
      for (const size of [13, 4096, 5003, 1 << 20]) expect(readAll(size).equals(expected)).toBe(true);
      expect(reader.read(Buffer.alloc(8), 0, 8, expected.length)).toBe(0);
    } finally {
      reader.close();
      ledger.close();
    }
  });

  it("copies on a thread of lower priority than the node's own (Linux's nice is per thread)", async () => {
    const dir = tempDir();
    const store = new SqliteOrderStore(path.join(dir, 'ledger.db'));
    const ledger = new LedgerStateMachine(store);
    fill(ledger, 30_000);
    const niceOf = (tid: string) => {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19, nice
    };
    const seen = new Set<number>();
    const look = () => {
      for (const tid of fs.readdirSync('/proc/self/task')) {
        if (Number(tid) !== process.pid) seen.add(niceOf(tid));
      }
    };
    // The copy (a page-by-page backup) of a small store lives for milliseconds: look without pause from its start
    // (the worker thread runs on its own meanwhile) until its thread is seen or it had time to finish.
    const copy = store.copyTo(path.join(dir, 'copy'));
    for (const until = Date.now() + 3_000; !seen.has(10) && Date.now() < until;) look();
    await copy;
    expect(seen).toContain(10);
    expect(niceOf(String(process.pid))).toBe(0);
    expect(os.getPriority()).toBe(0);
    ledger.close();
  });

  it('restores a snapshot of the older JSON form into a store file, and refuses one at another index', () => {
    const dir = tempDir();
    const memory = new LedgerStateMachine();
    fill(memory, 1_000);
    const file = path.join(dir, 'snapshot');
    writeSnapshotFile(file, { ...header, index: 10 }, memory.snapshotRecords(8 * 1024));
    expect(isStoreRef(readSnapshotRecords(file, () => undefined))).toBe(false);
    const dbFile = path.join(dir, 'ledger.db');
    expect(() =>
      restoreStoreFile(
        readSnapshotRecords(file, () => undefined),
        dbFile,
        11,
      ),
    ).toThrow('its store is at index 10, not 11');
    expect(fs.existsSync(dbFile)).toBe(false);
    restoreStoreFile(
      readSnapshotRecords(file, () => undefined),
      dbFile,
      10,
    );
    const restored = new LedgerStateMachine(new SqliteOrderStore(dbFile));
    expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(memory));
    restored.close();
  });
});

describe('compaction points', () => {
  const header = { clusterId: 'c', term: 1, config: { voters: ['n1'], learners: [] }, members: {} };

  it('are a small snapshot file with no state, which a receiver and a restore refuse, changing nothing', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'snapshot');
    await writeSnapshotFileAsync(file, { ...header, index: 42 }, storeRefRecords(42));
    expect(fs.statSync(file).size).toBeLessThan(1024);
    const records = () => readSnapshotRecords(file, () => undefined);
    expect(isStoreRef(records())).toBe(true);
    expect(() => checkLedgerSnapshot(records())).toThrow(/a compaction point .* not a snapshot that can be restored/);
    const dbFile = path.join(dir, 'ledger.db');
    expect(() => restoreStoreFile(records(), dbFile, 42)).toThrow(/a compaction point/);
    expect(fs.readdirSync(dir)).toEqual(['snapshot']);
  });

  it('follow a sync of the store to disk, with its WAL and after the WAL is gone', async () => {
    const file = path.join(tempDir(), 'ledger.db');
    const store = new SqliteOrderStore(file);
    const ledger = new LedgerStateMachine(store);
    fill(ledger, 1_000);
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
    await store.syncToDisk();
    ledger.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    await store.syncToDisk();
    const reopened = new SqliteOrderStore(file);
    expect(reopened.orderCount()).toBe(1_000);
    reopened.close();
  });
});

describe('WAL checkpoints off the event loop', () => {
  const walBytes = (file: string) => fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0;

  it('bounds the WAL under load, cuts it back once its checkpoint worker catches up, and leaves no WAL once closed', async () => {
    const file = path.join(tempDir(), 'ledger.db');
    const store = new SqliteOrderStore(file);
    const ledger = new LedgerStateMachine(store);
    let index = 0;
    const commit = () => {
      index++;
      const order = {
        orderId: `o-${index}`,
        account: 'a',
        symbol: 'AAPL',
        side: 'BUY' as const,
        quantity: 1,
        price: 10,
      };
      ledger.apply(encodeCommand({ type: 'order', order }), index);
      ledger.flush();
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // 3,000 commits of one order each, the event loop free between them as in a node. Each commit adds a few pages to
    // the WAL (about 12 MB per 600 commits, measured). The worker checkpoints every ~220 such commits; on a quiet
    // machine the WAL then stays a few MB, but a checkpoint that never catches up with a busy writer (a loaded CI
    // machine: 11.8 MB and 32 MB seen) lets it grow to the committing connection's own checkpoint, the backstop at
    // about 32 MB. Only that bound is a guarantee, so only it is asserted here.
    let largest = 0;
    for (let i = 1; i <= 3_000; i++) {
      commit();
      if (i % 20 === 0) {
        largest = Math.max(largest, walBytes(file));
        await pause(10);
      }
    }
    expect(largest).toBeLessThanOrEqual(40 * 1024 * 1024);
    // The worker's part: 300 quick commits (about 6 MB of WAL, and enough to ask the worker for a checkpoint), then
    // single commits with pauses between them until the WAL has started over, cut back to 4 MB: once the worker's
    // checkpoint has caught up (it retries every 20 ms while it has not), the next commit starts the WAL from its
    // beginning. The committing connection alone would only have appended (a few pages per commit). Waited for
    // rather than timed: on a loaded CI machine one checkpoint's fsyncs took longer than a fixed 300 ms pause, ten
    // times in a row (a CI run failed on it).
    for (let i = 0; i < 300; i++) commit();
    let cut = false;
    for (let waited = 0; waited < 15_000 && !cut; waited += 50) {
      await pause(50);
      commit();
      cut = walBytes(file) <= 4.5 * 1024 * 1024;
    }
    expect(cut).toBe(true);
    ledger.close();
    expect(walBytes(file)).toBe(0);
    const reopened = new SqliteOrderStore(file);
    expect(reopened.orderCount()).toBe(index);
    expect(reopened.load()?.state.appliedIndex).toBe(index);
    reopened.close();
  }, 60_000);
});
