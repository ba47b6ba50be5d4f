import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore } from '../../../local-cloud/runtime/checkpoint-store';

/** The Kinesis mappings' checkpoint file: written at most once per flush interval, never half, all of it at close. */
describe('CheckpointStore', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'checkpoints-'));
    file = join(dir, 'runtime', 'checkpoints.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const onDisk = () => JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('writes a burst of checkpoints once, after the flush interval, with the latest of each shard', async () => {
    const store = new CheckpointStore(file, 50);
    for (let i = 1; i <= 100; i++) store.set('ProcessMapping', `shard-${i % 4}`, String(1000 + i));
    // Nothing written yet: the burst waits for the interval instead of writing 100 files.
    expect(existsSync(file)).toBe(false);
    expect(store.get('ProcessMapping', 'shard-0')).toBe('1100');
    await sleep(150);
    expect(onDisk()).toEqual({
      'ProcessMapping/shard-0': '1100',
      'ProcessMapping/shard-1': '1097',
      'ProcessMapping/shard-2': '1098',
      'ProcessMapping/shard-3': '1099',
    });
    // No temporary file is left beside it.
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('does not write again when nothing changed', async () => {
    const store = new CheckpointStore(file, 20);
    store.set('M', 's', '1');
    await sleep(80);
    const written = statSync(file).mtimeMs;
    await sleep(80);
    store.flush();
    expect(statSync(file).mtimeMs).toBe(written);
  });

  it('close writes what the interval has not yet, and a new store (a restart) resumes from it', () => {
    const store = new CheckpointStore(file, 60_000);
    store.set('M', 'shard-0', '42');
    store.set('N', 'shard-1', '7');
    store.close();
    const restarted = new CheckpointStore(file);
    expect(restarted.get('M', 'shard-0')).toBe('42');
    expect(restarted.get('N', 'shard-1')).toBe('7');
    restarted.close();
  });

  it('a deleted checkpoint (of a stream that is gone) is gone from the file too, after a restart', () => {
    const store = new CheckpointStore(file, 60_000);
    store.set('M', 'shard-0', '42');
    store.set('M', 'shard-1', '43');
    store.close();
    const restarted = new CheckpointStore(file, 60_000);
    restarted.delete('M', 'shard-0');
    expect(restarted.get('M', 'shard-0')).toBeUndefined();
    restarted.close();
    expect(onDisk()).toEqual({ 'M/shard-1': '43' });
  });

  it('without a file keeps checkpoints in memory only', () => {
    const store = new CheckpointStore(undefined, 1);
    store.set('M', 's', '5');
    expect(store.get('M', 's')).toBe('5');
    store.close();
  });

  it('names the file it cannot read', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{not json');
    expect(() => new CheckpointStore(bad)).toThrow(`checkpoint file ${bad} is unreadable`);
  });
});
