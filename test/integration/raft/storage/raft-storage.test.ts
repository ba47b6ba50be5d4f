import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LOG_FILE,
  RaftStorage,
  readSnapshotRecords,
  SNAPSHOT_FILE,
  StorageCorruptionError,
  SYNCED_MARK_FILE,
  WalDamagedError,
} from '../../../../raft-node/src/storage';
import type { Entry, HardState } from '../../../../raft-node/src/core';
import { snapshotArgs } from '../../../support/ledger-snapshot';

const dirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-storage-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function entry(index: number, term: number, data = `order-${index}`): Entry {
  return { index, term, type: 'normal', data };
}
function range(from: number, to: number, term: number): Entry[] {
  return Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
}
const config = { voters: ['n1', 'n2', 'n3'], learners: [] };

interface State {
  hardState: HardState;
  entries: Entry[];
}
function stateOf(storage: RaftStorage): State {
  return { hardState: storage.restored.hardState, entries: storage.restored.entries };
}
function reopen(dir: string): RaftStorage {
  const storage = RaftStorage.open(dir);
  storage.close();
  return storage;
}

describe('RaftStorage', () => {
  it('starts empty in a new directory', () => {
    const storage = reopen(tempDir());
    expect(storage.restored).toEqual({
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: null,
      entries: [],
      recovery: { droppedTailBytes: 0, finishedCompaction: false },
    });
    expect(storage.firstIndex).toBe(1);
    expect(storage.lastIndex).toBe(0);
  });

  it('persists entries and the last hard state across a reopen', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 3, 1));
    storage.setHardState({ term: 1, vote: 'n1', commit: 0 });
    storage.sync();
    storage.append(range(4, 5, 2));
    storage.setHardState({ term: 2, vote: 'n2', commit: 4 });
    storage.sync();
    storage.close();

    const reopened = reopen(dir);
    expect(stateOf(reopened)).toEqual({
      hardState: { term: 2, vote: 'n2', commit: 4 },
      entries: [...range(1, 3, 1), ...range(4, 5, 2)],
    });
  });

  it('writes nothing for an unchanged hard state or entries the log already holds', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 3, 1));
    storage.setHardState({ term: 1, vote: null, commit: 2 });
    storage.sync();
    const size = storage.logBytes;
    storage.append(range(2, 3, 1));
    storage.setHardState({ term: 1, vote: null, commit: 2 });
    storage.sync();
    expect(storage.logBytes).toBe(size);
    storage.close();
  });

  it('extends the file with zeros ahead of the data and finds the records behind them on reopen', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir, { preallocateBytes: 4096 });
    storage.append(range(1, 3, 1));
    storage.sync();
    const logPath = path.join(dir, LOG_FILE);
    expect(fs.statSync(logPath).size).toBe(storage.logBytes + 4096);
    for (let index = 4; index <= 200; index += 1) {
      storage.append([entry(index, 1, 'x'.repeat(100))]);
      storage.sync();
    }
    expect(storage.logBytes).toBeGreaterThan(4096 * 4);
    expect(fs.statSync(logPath).size).toBeGreaterThan(storage.logBytes);
    const logBytes = storage.logBytes;
    storage.close();
    const reopened = RaftStorage.open(dir);
    expect(reopened.logBytes).toBe(logBytes);
    expect(reopened.restored.entries).toHaveLength(200);
    expect(reopened.restored.recovery.droppedTailBytes).toBe(0);
    reopened.close();
  });

  it('loses what was appended but never synced (a crash before sync)', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 2, 1));
    storage.sync();
    storage.append(range(3, 4, 1));
    storage.setHardState({ term: 5, vote: 'n3', commit: 0 });
    // No sync and no close: the process "dies" here.
    expect(stateOf(RaftStorage.open(dir))).toEqual({
      hardState: { term: 0, vote: null, commit: 0 },
      entries: range(1, 2, 1),
    });
  });

  it('cuts a conflicting tail and appends after it, durably', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 5, 1));
    storage.setHardState({ term: 1, vote: 'n1', commit: 2 });
    storage.sync();
    // Entries 3 matches; 4 conflicts: the tail from 4 is replaced.
    storage.append([entry(3, 1), entry(4, 2, 'new-4'), entry(5, 2, 'new-5'), entry(6, 2, 'new-6')]);
    storage.sync();
    const expected = [...range(1, 3, 1), entry(4, 2, 'new-4'), entry(5, 2, 'new-5'), entry(6, 2, 'new-6')];
    expect(storage.entries(1, 7)).toEqual(expected);
    storage.append([entry(5, 3, 'newer-5')]);
    storage.sync();
    storage.close();
    expect(reopen(dir).restored.entries).toEqual([...expected.slice(0, 4), entry(5, 3, 'newer-5')]);
  });

  it('rejects appends that leave a gap, are not consecutive, or rewrite committed entries', () => {
    const storage = RaftStorage.open(tempDir());
    storage.append(range(1, 3, 1));
    storage.setHardState({ term: 1, vote: null, commit: 2 });
    expect(() => storage.append([entry(5, 1)])).toThrow('gap after the last index 3');
    expect(() => storage.append([entry(4, 1), entry(6, 1)])).toThrow('not consecutive');
    expect(() => storage.append([entry(2, 2)])).toThrow(
      'conflicts with a committed entry of term 1 (commit 2, snapshot 0)',
    );
    storage.close();
  });

  // A crash leaves the file cut short, or (with preallocation) the unwritten part still zero.
  it.each(['cut short', 'zero-filled after the cut'])(
    'recovers a consistent prefix when the log is %s at every byte offset',
    (mode) => {
      const dir = tempDir();
      const storage = RaftStorage.open(dir);
      const batchEnds: { size: number; state: State }[] = [
        { size: storage.logBytes, state: { hardState: { term: 0, vote: null, commit: 0 }, entries: [] } },
      ];
      const batches: { entries: Entry[]; hardState: HardState }[] = [
        { entries: range(1, 2, 1), hardState: { term: 1, vote: 'n1', commit: 0 } },
        { entries: range(3, 5, 1), hardState: { term: 1, vote: 'n1', commit: 2 } },
        { entries: [entry(4, 2, 'rewritten-4')], hardState: { term: 2, vote: 'n2', commit: 3 } },
      ];
      for (const batch of batches) {
        storage.append(batch.entries);
        storage.setHardState(batch.hardState);
        storage.sync();
        batchEnds.push({
          size: storage.logBytes,
          state: { hardState: storage.hardState, entries: storage.entries(1, storage.lastIndex + 1) },
        });
      }
      const records = fs.readFileSync(path.join(dir, LOG_FILE)).subarray(0, storage.logBytes);
      storage.close();
      const firstBatchEnd = batchEnds[0]?.size ?? 0;

      for (let cut = 0; cut <= records.length; cut += 1) {
        const crashed = tempDir();
        const logPath = path.join(crashed, LOG_FILE);
        const padding = mode === 'cut short' ? 0 : records.length - cut + 512;
        fs.writeFileSync(logPath, Buffer.concat([records.subarray(0, cut), Buffer.alloc(padding)]));
        if (cut < firstBatchEnd) {
          // The first batch is written to a temp file and renamed, so a short one is damage, not a torn write.
          expect(() => RaftStorage.open(crashed)).toThrow(StorageCorruptionError);
          continue;
        }
        const expected = batchEnds.filter((batch) => batch.size <= cut).at(-1);
        const recovered = RaftStorage.open(crashed, { preallocateBytes: 256 });
        expect(stateOf(recovered)).toEqual(expected?.state);
        expect(recovered.restored.recovery.droppedTailBytes).toBeLessThanOrEqual(cut - (expected?.size ?? 0));
        // Nothing of the torn batch is left in the file: only zeros follow the recovered records.
        expect(
          fs
            .readFileSync(logPath)
            .subarray(expected?.size)
            .every((byte) => byte === 0),
        ).toBe(true);
        if (cut % 8 === 0) {
          recovered.append([entry(recovered.lastIndex + 1, 9)]);
          recovered.sync();
          recovered.close();
          expect(reopen(crashed).restored.entries.at(-1)).toEqual(entry(recovered.lastIndex, 9));
        } else {
          recovered.close();
        }
        fs.rmSync(crashed, { recursive: true });
      }
    },
    120_000,
  );

  it('refuses a flipped bit in any byte of an earlier batch, naming the file and the offset', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 2, 1));
    storage.sync();
    const secondBatchStart = storage.logBytes;
    storage.append(range(3, 4, 1));
    storage.setHardState({ term: 1, vote: 'n1', commit: 3 });
    storage.sync();
    const secondBatchEnd = storage.logBytes;
    storage.append(range(5, 6, 1));
    storage.sync();
    const logEnd = storage.logBytes;
    storage.close();
    const full = fs.readFileSync(path.join(dir, LOG_FILE));
    // Record starts inside the second batch, to know which offset the error must name.
    const recordStarts = findRecordStarts(full, logEnd).filter(
      (start) => start >= secondBatchStart && start < secondBatchEnd,
    );

    for (let byte = secondBatchStart; byte < secondBatchEnd; byte += 1) {
      const damaged = tempDir();
      const copy = Buffer.from(full);
      copy[byte] = (copy[byte] as number) ^ (1 << (byte % 8));
      const logPath = path.join(damaged, LOG_FILE);
      fs.writeFileSync(logPath, copy);
      const recordStart = recordStarts.filter((start) => start <= byte).at(-1);
      let error: unknown;
      try {
        RaftStorage.open(damaged);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(StorageCorruptionError);
      expect((error as StorageCorruptionError).message).toContain(
        `${logPath}: corrupted data at byte offset ${recordStart}`,
      );
      expect(fs.readFileSync(logPath).equals(copy)).toBe(true);
      fs.rmSync(damaged, { recursive: true });
    }
  }, 60_000);

  it('saves a snapshot and compacts the log, surviving a reopen', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 10, 1));
    storage.setHardState({ term: 1, vote: 'n1', commit: 8 });
    storage.sync();
    const sizeBefore = storage.logBytes;
    const [snapshot, file] = snapshotArgs(dir, { index: 6, term: 1, config });
    storage.saveSnapshot(snapshot, file);
    expect(storage.firstIndex).toBe(7);
    expect(storage.term(6)).toBe(1);
    expect(storage.logBytes).toBeLessThan(sizeBefore);
    storage.append([entry(11, 1)]);
    storage.sync();
    storage.close();

    const reopened = reopen(dir);
    expect(reopened.restored.snapshot).toEqual(snapshot);
    expect(reopened.restored.entries).toEqual(range(7, 11, 1));
    expect(reopened.restored.hardState).toEqual({ term: 1, vote: 'n1', commit: 8 });
    expect(() => reopened.entries(6, 8)).toThrow(RangeError);
  });

  it('drops the whole log for a snapshot past its end or with a different term at its index', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 5, 1));
    storage.sync();
    storage.saveSnapshot(...snapshotArgs(dir, { index: 20, term: 3, config }));
    expect(storage.lastIndex).toBe(20);
    storage.append([entry(21, 3)]);
    storage.sync();
    storage.saveSnapshot(...snapshotArgs(dir, { index: 21, term: 4, config }));
    expect(storage.lastIndex).toBe(21);
    expect(storage.term(21)).toBe(4);
    expect(() => storage.saveSnapshot(...snapshotArgs(dir, { index: 5, term: 1, config }))).toThrow('older than');
    // Entries the snapshot covers are committed: a matching one is skipped, a different term is refused.
    storage.append([entry(20, 3), entry(21, 4)]);
    expect(storage.lastIndex).toBe(21);
    expect(() => storage.append([entry(21, 5)])).toThrow('conflicts with a committed entry of term 4');
    storage.close();
    const reopened = reopen(dir);
    expect(reopened.restored.entries).toEqual([]);
    expect(reopened.restored.snapshot?.meta.index).toBe(21);
  });

  it('ignores leftover temp files from a crash mid-write', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 3, 1));
    storage.sync();
    storage.saveSnapshot(...snapshotArgs(dir, { index: 2, term: 1, config }));
    storage.close();
    fs.writeFileSync(path.join(dir, `${SNAPSHOT_FILE}.tmp`), 'half a snap');
    fs.writeFileSync(path.join(dir, `${LOG_FILE}.tmp`), Buffer.from([1, 2, 3]));

    const reopened = reopen(dir);
    expect(reopened.restored.snapshot?.meta.index).toBe(2);
    expect(reopened.restored.entries).toEqual([entry(3, 1)]);
    // The sealed segment holding entries 1..3 stays until a snapshot covers all of them.
    expect(fs.readdirSync(dir).sort()).toEqual([
      LOG_FILE,
      `${LOG_FILE}.${'0'.repeat(20)}`,
      SNAPSHOT_FILE,
      SYNCED_MARK_FILE,
    ]);
  });

  it('finishes a compaction interrupted between the snapshot and the log rewrite', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 10, 2));
    storage.setHardState({ term: 2, vote: null, commit: 9 });
    storage.close();
    // The crash: the snapshot was renamed into place, the log not yet rewritten.
    fs.renameSync(snapshotArgs(dir, { index: 7, term: 2, config })[1], path.join(dir, SNAPSHOT_FILE));

    const recovered = reopen(dir);
    expect(recovered.restored.recovery.finishedCompaction).toBe(true);
    expect(recovered.restored.entries).toEqual(range(8, 10, 2));
    expect(recovered.restored.hardState.commit).toBe(9);
    expect(reopen(dir).restored.recovery.finishedCompaction).toBe(false);
  });

  it('compacts by sealing segments, never rewriting entries, and deletes a segment once a snapshot covers it', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 10, 1));
    storage.setHardState({ term: 1, vote: 'n1', commit: 10 });
    storage.sync();
    // A snapshot taken at 6 in the background, saved once entries up to 10 (and 11..12 unsynced) exist.
    storage.append(range(11, 12, 1));
    storage.saveSnapshot(...snapshotArgs(dir, { index: 6, term: 1, config }));
    expect(storage.segments).toEqual([0]);
    expect(storage.firstIndex).toBe(7);
    storage.append(range(13, 20, 1));
    storage.sync();
    storage.saveSnapshot(...snapshotArgs(dir, { index: 15, term: 1, config }));
    // Segment 0 holds 1..12, all covered; segment 12 holds 13..20, not all covered.
    expect(storage.segments).toEqual([12]);
    storage.append([entry(21, 2)]);
    storage.sync();
    storage.close();
    const reopened = reopen(dir);
    expect(reopened.restored.entries).toEqual([...range(16, 20, 1), entry(21, 2)]);
    expect(reopened.restored.hardState.commit).toBe(10);
    reopened.close();

    // A crash while sealing: the mark lowered (no mark reads as 0), raft.log renamed away, the new one not written
    // yet. open() starts it again.
    fs.rmSync(path.join(dir, SYNCED_MARK_FILE));
    fs.renameSync(path.join(dir, LOG_FILE), path.join(dir, `${LOG_FILE}.${String(20).padStart(20, '0')}`));
    const resealed = reopen(dir);
    expect(resealed.restored.entries).toEqual([...range(16, 20, 1), entry(21, 2)]);
    resealed.close();

    // A sealed segment was synced whole: damage in it is refused, never cut.
    const sealedFile = path.join(dir, `${LOG_FILE}.${String(12).padStart(20, '0')}`);
    const bytes = fs.readFileSync(sealedFile);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5] as number) ^ 0x01;
    fs.writeFileSync(sealedFile, bytes);
    expect(() => RaftStorage.open(dir)).toThrow(sealedFile);
  });

  it('refuses a damaged snapshot file or a log that starts after the snapshot', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 3, 1));
    storage.saveSnapshot(...snapshotArgs(dir, { index: 2, term: 1, config }));
    // A second compaction deletes the segment holding entries 1..3, which the snapshot at 3 covers whole.
    storage.saveSnapshot(...snapshotArgs(dir, { index: 3, term: 1, config }));
    storage.close();
    const snapshotPath = path.join(dir, SNAPSHOT_FILE);
    const good = fs.readFileSync(snapshotPath);
    // open() reads only the header and the trailer; the checksum over the state is checked where the state is
    // read back (readSnapshotRecords, by the node's restore), so a flipped state byte is refused there.
    const flipped = Buffer.from(good);
    const stateAt = good.indexOf('"state"');
    flipped[stateAt + 2] = (flipped[stateAt + 2] as number) ^ 0x01;
    fs.writeFileSync(snapshotPath, flipped);
    expect(() => [...readSnapshotRecords(snapshotPath, () => undefined)]).toThrow('checksum mismatch');
    fs.writeFileSync(snapshotPath, good.subarray(0, good.length - 3));
    expect(() => RaftStorage.open(dir)).toThrow(`${snapshotPath}: corrupted data at byte offset 0:`);

    fs.rmSync(snapshotPath);
    // The covered segment is unlinked in the background; this synchronous test never yields, so it goes by hand.
    fs.rmSync(path.join(dir, `${LOG_FILE}.${'0'.repeat(20)}`), { force: true });
    expect(() => RaftStorage.open(dir)).toThrow(
      'the log starts after index 3 but the snapshot covers only up to index 0',
    );
  });

  it('refuses all further calls after a failed sync, keeping what was durable', () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append([entry(1, 1)]);
    storage.sync();
    // A record over the 64 MiB limit makes the batch fail to encode: after a failed sync the storage stops.
    storage.append([entry(2, 1, 'x'.repeat(64 * 1024 * 1024))]);
    expect(() => storage.sync()).toThrow('exceeds the 67108864-byte limit');
    expect(() => storage.setHardState({ term: 2, vote: null, commit: 1 })).toThrow(
      'failed earlier and must be reopened',
    );
    storage.close();
    expect(reopen(dir).restored.entries).toEqual([entry(1, 1)]);
  });

  it('cannot be used after close', () => {
    const storage = RaftStorage.open(tempDir());
    storage.close();
    expect(() => storage.append([entry(1, 1)])).toThrow('is closed');
  });
});

/** Walks the framing (u32 length at each record start, 18-byte header) to list record offsets. */
function findRecordStarts(buf: Buffer, end: number): number[] {
  const starts: number[] = [];
  for (let offset = 0; offset < end; offset += 18 + buf.readUInt32LE(offset)) starts.push(offset);
  return starts;
}

/*
 * Issue "Ledger cluster safety", finding 7: damage to a batch that was synced (it may hold acknowledged entries)
 * is refused, not cut as a torn tail; a torn batch above the synced mark is still cut silently.
 */
describe('RaftStorage: damaged synced data', () => {
  /** Three synced batches; the bytes of the log and of the synced mark after the second and the third sync. */
  function threeBatches() {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    storage.append(range(1, 2, 1));
    storage.sync();
    storage.append(range(3, 4, 1));
    storage.setHardState({ term: 1, vote: 'n1', commit: 3 });
    storage.sync();
    const lastBatchStart = storage.logBytes;
    const markBeforeLast = fs.readFileSync(path.join(dir, SYNCED_MARK_FILE));
    storage.append(range(5, 6, 1));
    storage.sync();
    const logEnd = storage.logBytes;
    storage.close();
    const log = fs.readFileSync(path.join(dir, LOG_FILE)).subarray(0, logEnd);
    const mark = fs.readFileSync(path.join(dir, SYNCED_MARK_FILE));
    return { log, mark, markBeforeLast, lastBatchStart, logEnd };
  }
  function dirWith(log: Buffer, mark?: Buffer): string {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, LOG_FILE), log);
    if (mark) fs.writeFileSync(path.join(dir, SYNCED_MARK_FILE), mark);
    return dir;
  }
  function openError(dir: string, options = {}): unknown {
    try {
      RaftStorage.open(dir, options).close();
    } catch (error) {
      return error;
    }
    return undefined;
  }

  it('records after every sync, in the foreground and in the background, how far the log is durable', async () => {
    const dir = tempDir();
    const storage = RaftStorage.open(dir);
    const markOf = () => fs.readFileSync(path.join(dir, SYNCED_MARK_FILE)).readBigUInt64LE(8);
    expect(markOf()).toBe(BigInt(storage.logBytes));
    storage.append(range(1, 3, 1));
    storage.sync();
    expect(markOf()).toBe(BigInt(storage.logBytes));
    storage.append(range(4, 5, 1));
    await storage.syncInBackground();
    expect(markOf()).toBe(BigInt(storage.logBytes));
    // Compaction replaces the log by a shorter file: the mark follows it down, and a reopen finds no damage.
    storage.saveSnapshot(...snapshotArgs(dir, { index: 4, term: 1, config }));
    expect(markOf()).toBe(BigInt(storage.logBytes));
    storage.close();
    expect(reopen(dir).restored.entries).toEqual([entry(5, 1)]);
  });

  it('refuses a flipped bit in any byte of the last synced batch, naming the offset and what a cut would drop', () => {
    const { log, mark, lastBatchStart, logEnd } = threeBatches();
    const recordStarts = findRecordStarts(log, logEnd).filter((start) => start >= lastBatchStart);
    for (let byte = lastBatchStart; byte < logEnd; byte += 1) {
      const copy = Buffer.from(log);
      copy[byte] = (copy[byte] as number) ^ (1 << (byte % 8));
      const dir = dirWith(copy, mark);
      const error = openError(dir);
      expect(error).toBeInstanceOf(WalDamagedError);
      const damage = error as WalDamagedError;
      const recordStart = recordStarts.filter((start) => start <= byte).at(-1);
      expect(damage.message).toContain(`${path.join(dir, LOG_FILE)}: corrupted data at byte offset ${recordStart}`);
      expect(damage.message).toContain(`walDamagedBytes=${logEnd - lastBatchStart}`);
      expect(damage).toMatchObject({
        offset: recordStart,
        truncateAt: lastBatchStart,
        damagedBytes: logEnd - lastBatchStart,
      });
      // Entries 5 and 6: the flipped bit spoils one record; the other entry still reads.
      expect(damage.intactEntries).toBeGreaterThanOrEqual(1);
      expect(fs.readFileSync(path.join(dir, LOG_FILE)).equals(copy)).toBe(true);
      fs.rmSync(dir, { recursive: true });
    }
  }, 60_000);

  it('still cuts a torn last batch silently when the mark says it was never synced', () => {
    const { log, markBeforeLast, lastBatchStart, logEnd } = threeBatches();
    for (let cut = lastBatchStart; cut < logEnd; cut += 7) {
      const dir = dirWith(log.subarray(0, cut), markBeforeLast);
      const recovered = RaftStorage.open(dir);
      expect(recovered.restored.entries).toEqual(range(1, 4, 1));
      expect(recovered.restored.recovery.damagedSynced).toBeUndefined();
      recovered.close();
    }
    // Damage, not a cut, above the mark is treated the same: it may be the torn write itself.
    const flipped = Buffer.from(log);
    flipped[logEnd - 2] = (flipped[logEnd - 2] as number) ^ 1;
    expect(reopen(dirWith(flipped, markBeforeLast)).restored.entries).toEqual(range(1, 4, 1));
  });

  it('refuses a log that ends before the synced mark (a lost write)', () => {
    const { log, mark, lastBatchStart, logEnd } = threeBatches();
    const error = openError(dirWith(log.subarray(0, lastBatchStart), mark));
    expect(error).toBeInstanceOf(WalDamagedError);
    expect((error as WalDamagedError).message).toContain(
      `records end at byte offset ${lastBatchStart} but it was synced up to byte offset ${logEnd}`,
    );
    expect(error).toMatchObject({ offset: lastBatchStart, damagedBytes: logEnd - lastBatchStart, intactEntries: 0 });
  });

  it('with allowDamagedTruncate cuts the damaged synced batch, lowers the mark and reopens cleanly', () => {
    const { log, mark, lastBatchStart } = threeBatches();
    const copy = Buffer.from(log);
    copy[lastBatchStart + 5] = (copy[lastBatchStart + 5] as number) ^ 0x40;
    const dir = dirWith(copy, mark);
    expect(RaftStorage.inspect(dir).damage?.truncateAt).toBe(lastBatchStart);
    const repaired = RaftStorage.open(dir, { allowDamagedTruncate: true });
    expect(repaired.restored.entries).toEqual(range(1, 4, 1));
    expect(repaired.restored.recovery.damagedSynced).toBeInstanceOf(WalDamagedError);
    expect(repaired.restored.recovery.droppedTailBytes).toBe(log.length - lastBatchStart);
    repaired.append(range(5, 5, 2));
    repaired.sync();
    repaired.close();
    expect(fs.statSync(path.join(dir, LOG_FILE)).size).toBeGreaterThan(lastBatchStart);
    expect(RaftStorage.inspect(dir).damage).toBeUndefined();
    expect(reopen(dir).restored.entries).toEqual([...range(1, 4, 1), entry(5, 2)]);
  });

  it('with allowDamagedTruncate also cuts a bad record that an intact later batch follows', () => {
    const { log, lastBatchStart } = threeBatches();
    const copy = Buffer.from(log);
    const secondBatchStart = findRecordStarts(log, log.length)
      .filter((s) => s < lastBatchStart)
      .at(-3) as number;
    copy[secondBatchStart + 20] = (copy[secondBatchStart + 20] as number) ^ 0x01;
    const dir = dirWith(copy);
    const error = openError(dir);
    expect(error).toBeInstanceOf(WalDamagedError);
    expect((error as WalDamagedError).intactEntries).toBeGreaterThanOrEqual(2);
    const repaired = RaftStorage.open(dir, { allowDamagedTruncate: true });
    expect(repaired.restored.entries).toEqual(range(1, 2, 1));
    repaired.close();
  });
});
