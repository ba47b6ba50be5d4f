import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { claimDataDir, DataDirInUseError } from '../../../local-cloud/data-dir';
import { startEmbeddedStack } from '../../../local-cloud/stack';

/**
 * One embedded stack per data dir (local-cloud/data-dir.ts). The attack: a second `npm run bench` (or `npm start
 * --fresh`) on the dir of a running one used to empty it under the first — whose Raft nodes then lost their lock files
 * and stopped, and whose stream checkpoints pointed into a stream that was gone. Here the dir is held by another real
 * process through the same claim the stack makes; the second start is refused before it touches anything, through the
 * library and through the bench's and chaos's command lines, and a holder killed with -9 does not block the next one.
 */

jest.setTimeout(60_000);

const repoRoot = resolve(__dirname, '..', '..', '..');

/** Another process holding `dir` as a stack does: resolves once it holds it. */
function holdInChild(dir: string): Promise<ChildProcess> {
  const script = `
    const { claimDataDir } = require(${JSON.stringify(join(repoRoot, 'local-cloud', 'data-dir.ts'))});
    claimDataDir(${JSON.stringify(dir)}, { onLost: () => undefined });
    process.stdout.write('held\\n');
    setInterval(() => undefined, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: repoRoot, stdio: 'pipe' });
  return new Promise((resolvePromise, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && resolvePromise(child));
    child.on('exit', (code) => reject(new Error(`holder exited ${code}: ${err}`)));
  });
}

describe('the embedded stack holds its data dir alone', () => {
  let dir: string;
  let holder: ChildProcess | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stack-dir-'));
    holder = await holdInChild(dir);
    writeFileSync(join(dir, 'stack.json'), '{"kept":true}');
  });

  afterEach(() => {
    if (holder?.exitCode === null) holder.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second stack with fresh is refused, naming the holder, and empties nothing', async () => {
    const start = startEmbeddedStack({ dataDir: dir, fresh: true, edgePort: 0, log: () => undefined });
    await expect(start).rejects.toThrow(DataDirInUseError);
    await expect(start).rejects.toThrow(`data dir ${dir} is in use by pid ${holder!.pid} on host ${hostname()}`);
    expect(existsSync(join(dir, 'stack.json'))).toBe(true);
    expect(holder!.exitCode).toBeNull();
  });

  test.each([
    ['bench', ['tools/bench.ts', '--rates', '10', '--seconds', '3', '--warmup', '0', '--data-dir']],
    ['chaos', ['tools/chaos.ts', 'crash-execute', '--seconds', '5', '--dir']],
  ])("%s's command line refuses a held dir before it writes there", (_name, args) => {
    const out = spawnSync(process.execPath, ['--import', 'tsx', ...args, dir], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.status).not.toBe(0);
    expect(`${out.stdout}${out.stderr}`).toContain(`is in use by pid ${holder!.pid}`);
    // Nothing emptied, nothing synthesized into it.
    expect(readdirSync(dir).sort()).toEqual(['LOCK', 'stack.json']);
  });

  test('a holder killed with -9 leaves no block: the next claim takes the dir and empties it but the lock', async () => {
    const exited = new Promise((r) => holder!.once('exit', r));
    holder!.kill('SIGKILL');
    await exited;
    const lock = claimDataDir(dir, { fresh: true, onLost: () => undefined });
    try {
      expect(lock.holder.pid).toBe(process.pid);
      expect(readdirSync(dir)).toEqual(['LOCK']);
    } finally {
      lock.release();
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
