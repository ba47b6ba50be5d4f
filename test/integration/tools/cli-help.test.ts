import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Every operator command, run as a real process: --help prints its usage and exits 0; a bad flag or value
 * prints one line naming it, then the usage, and exits 2; an unexpected failure is one line and exit 1,
 * its stack only with DEBUG=1. Never a stack trace otherwise.
 */

const ROOT = resolve(__dirname, '../../..');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', script, ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }),
    );
  });
}

const STACK_LINE = /^\s+at /m;

/** Each command, its name in messages, and a bad value that names its flag. */
const commands: [script: string, name: string, badValue: string[], names: RegExp][] = [
  ['tools/start.ts', 'npm start', ['--port', '70000'], /^npm start: --port '70000': /],
  ['tools/logs.ts', 'npm run logs', ['execute', '--target', 'gcp'], /^npm run logs: --target 'gcp': /],
  ['tools/verify.ts', 'npm run verify', ['--settle', 'soon'], /^npm run verify: --settle 'soon': /],
  ['tools/chaos.ts', 'npm run chaos', ['unplug-the-disk'], /^npm run chaos: <scenario> 'unplug-the-disk': /],
  ['tools/bench.ts', 'npm run bench', ['--rates', 'fast'], /^npm run bench: --rates 'fast': /],
  ['tools/load.ts', 'npm run load', ['--rate', '0', '--seconds', '1'], /^npm run load: --rate '0': /],
  ['tools/token.ts', 'npm run token', ['--role', 'boss', '--account', 'A1'], /^npm run token: --role 'boss': /],
  ['tools/bench-raft.ts', 'npm run bench:raft', ['extra'], /^npm run bench:raft: Unexpected argument 'extra'$/m],
  [
    'tools/bench-raft-floor.ts',
    'npm run bench:raft:floor',
    ['--writes', '0'],
    /^npm run bench:raft:floor: --writes '0': /,
  ],
  [
    'tools/bench-peer-wire.ts',
    'npm run bench:peer-wire',
    ['extra'],
    /^npm run bench:peer-wire: Unexpected argument 'extra'$/m,
  ],
  ['raft-node/src/main.ts', 'raft-node', ['extra'], /^raft-node: Unexpected argument 'extra'$/m],
];

describe.each(commands)('%s', (script, name, badValue, namesIt) => {
  it.concurrent('--help prints the usage on stdout and exits 0', async () => {
    const r = await run(script, ['--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: /);
  });

  it.concurrent('an unknown flag: one line naming it, then the usage; exit 2, no stack', async () => {
    const r = await run(script, ['--no-such-flag']);
    expect(r.code).toBe(2);
    const [first, second] = r.stderr.split('\n');
    expect(first).toBe(`${name}: Unknown option '--no-such-flag'`);
    expect(second).toMatch(/^usage: /);
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(r.stdout).toBe('');
  });

  it.concurrent('a bad value: one line naming the flag, then the usage; exit 2', async () => {
    const r = await run(script, badValue);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(namesIt);
    expect(r.stderr.split('\n')[1]).toMatch(/^usage: /);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });
});

describe('an unexpected failure', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-help-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is one line on stderr and exit 1 (npm run verify with no stack running)', async () => {
    const r = await run('tools/verify.ts', ['--data-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `npm run verify failed: ${join(dir, 'stack.json')} not found: start the stack first ` +
        `(npm start -- --data-dir ${dir}) (DEBUG=1 shows the stack)\n`,
    );
  });

  it('shows its stack with DEBUG=1', async () => {
    const r = await run('tools/verify.ts', ['--data-dir', dir], { DEBUG: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^npm run verify failed: Error: .*stack\.json not found/);
    expect(r.stderr).toMatch(STACK_LINE);
  });
});
