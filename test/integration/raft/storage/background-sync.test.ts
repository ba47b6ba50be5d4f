import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Entry } from '../../../../raft-node/src/core';
import { RaftStorage } from '../../../../raft-node/src/storage';

const entry = (index: number, term = 1): Entry => ({ index, term, type: 'normal', data: `{"n":${index}}` });

describe('RaftStorage.syncInBackground', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-bgsync-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('makes the batch durable: a reopened storage recovers it', async () => {
    const storage = RaftStorage.open(dir);
    storage.append([entry(1), entry(2)]);
    storage.setHardState({ term: 1, vote: 'a', commit: 1 });
    await storage.syncInBackground();
    storage.append([entry(3)]);
    await storage.syncInBackground();
    storage.close();

    const reopened = RaftStorage.open(dir);
    expect(reopened.restored.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    expect(reopened.restored.hardState).toEqual({ term: 1, vote: 'a', commit: 1 });
    expect(reopened.restored.recovery.droppedTailBytes).toBe(0);
    reopened.close();
  });

  it('refuses writes until the running sync is done, so batches never overlap', async () => {
    const storage = RaftStorage.open(dir);
    storage.append([entry(1)]);
    const syncing = storage.syncInBackground();
    expect(() => storage.append([entry(2)])).toThrow(/background sync is still running/);
    expect(() => storage.setHardState({ term: 2, vote: null, commit: 0 })).toThrow(/background sync/);
    expect(() => storage.sync()).toThrow(/background sync/);
    await syncing;
    storage.append([entry(2)]);
    storage.sync();
    storage.close();
    const reopened = RaftStorage.open(dir);
    expect(reopened.restored.entries.map((e) => e.index)).toEqual([1, 2]);
    reopened.close();
  });

  it('resolves at once when nothing is buffered', async () => {
    const storage = RaftStorage.open(dir);
    await storage.syncInBackground();
    storage.append([entry(1)]);
    storage.close();
    const reopened = RaftStorage.open(dir);
    expect(reopened.restored.entries.map((e) => e.index)).toEqual([1]);
    reopened.close();
  });

  it('a close() during the sync lets it finish, then closes the file', async () => {
    const storage = RaftStorage.open(dir);
    storage.append([entry(1)]);
    const syncing = storage.syncInBackground();
    storage.close();
    await expect(syncing).resolves.toBeUndefined();
    expect(() => storage.append([entry(2)])).toThrow(/closed/);
    const reopened = RaftStorage.open(dir);
    expect(reopened.restored.entries.map((e) => e.index)).toEqual([1]);
    reopened.close();
  });
});
