import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { classifyCommand } from '../../../tools/lib/process-cpu';
import { descendants, killAll, waitAllGone, type ProcessId } from '../../support/processes';
import { sleep } from '../../../shared/util/wait';

/**
 * No process a command starts outlives it, however the command ends. Real processes, real signals: the
 * fixture launcher (fixtures/lifecycle-launcher.ts) runs runCommand with a Raft node in its own process
 * group, kinesalite under its supervisor and a local Lambda worker, like tools/start.ts. Its descendants are read from /proc
 * once it is up, then the test ends it one way and polls until none of them runs.
 * (lifecycle-stack.test.ts does the same with the whole `npm start` stack and SIGKILL.)
 */

const ROOT = resolve(__dirname, '../../..');
const LAUNCHER = join(__dirname, 'fixtures/lifecycle-launcher.ts');
const GONE_WITHIN_MS = 10_000;

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function launch(dir: string, how: { detached?: boolean; viaShell?: boolean } = {}): Run {
  const cmd = [process.execPath, '--import', 'tsx', LAUNCHER, '--dir', dir];
  // `; true` keeps dash from exec-ing the command, so the shell stays its parent (as npm's `sh -c` does).
  const child = how.viaShell
    ? spawn('sh', ['-c', `${cmd.map((a) => `'${a}'`).join(' ')}; true`], { cwd: ROOT })
    : spawn(cmd[0] as string, cmd.slice(1), { cwd: ROOT, detached: how.detached ?? false });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    // 'close', not 'exit': the exit can come before the last of its stderr is read (a CI run saw "stopped" missing).
    exited: new Promise((r) => child.once('close', (code, signal) => r({ code, signal }))),
  };
  child.stdout?.on('data', (c: Buffer) => (run.stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (run.stderr += c.toString()));
  return run;
}

async function waitUp(run: Run, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.stdout.includes('up\n')) {
    if (run.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`launcher not up (exit ${run.child.exitCode}); stdout: ${run.stdout} stderr: ${run.stderr}`);
    await sleep(100);
  }
}

/** The launcher's processes once up: itself (unless run through a shell) and every descendant. */
function processesOf(run: Run): ProcessId[] {
  const all = descendants(run.child.pid as number);
  // Sanity: the tree really holds what the ending must take down.
  expect(all.some((p) => classifyCommand(p.args) === 'raft')).toBe(true);
  expect(all.some((p) => p.args.includes('node_modules/kinesalite/'))).toBe(true);
  expect(all.some((p) => p.args.includes('process/supervise.js'))).toBe(true);
  expect(all.some((p) => p.args.includes('runtime/worker-host.js'))).toBe(true);
  return all;
}

interface Ending {
  how?: { detached?: boolean; viaShell?: boolean };
  end(run: Run): Promise<void> | void;
  /** The launcher's exit code, when the ending leaves it one to report. */
  code?: number;
  stderr?: RegExp;
}

const endings: Record<string, Ending> = {
  'Ctrl-C (SIGINT)': { end: (r) => void r.child.kill('SIGINT'), code: 0, stderr: /stopped/ },
  SIGTERM: { end: (r) => void r.child.kill('SIGTERM'), code: 0, stderr: /stopped/ },
  'SIGHUP (terminal closed)': { end: (r) => void r.child.kill('SIGHUP'), code: 0, stderr: /stopped/ },
  'its stdout pipe closed (| head)': { end: (r) => void r.child.stdout?.destroy(), code: 0, stderr: /stopped/ },
  'Ctrl-C with its output pipe closed too (npm start | tee, Ctrl-C)': {
    end: (r) => {
      r.child.stdout?.destroy();
      r.child.kill('SIGINT');
    },
    code: 0,
  },
  'a crash (uncaught exception): one line, no stack, exit 1': {
    end: (r) => void r.child.kill('SIGUSR2'),
    code: 1,
    stderr: /^lifecycle-launcher failed: crash requested \(SIGUSR2\) \(DEBUG=1 shows the stack\)$/m,
  },
  SIGKILL: { end: (r) => void r.child.kill('SIGKILL') },
  'SIGTERM to its process group, SIGKILL 2 s later': {
    how: { detached: true },
    end: async (r) => {
      const group = -(r.child.pid as number);
      process.kill(group, 'SIGTERM');
      await sleep(2000);
      try {
        process.kill(group, 'SIGKILL');
      } catch {
        // the group had already ended
      }
    },
  },
  'its parent shell killed (npm forwards SIGTERM to sh, which dies without passing it on)': {
    how: { viaShell: true },
    end: (r) => void r.child.kill('SIGKILL'),
  },
};

describe('no process a command starts outlives it', () => {
  it.concurrent.each(Object.entries(endings))(
    '%s',
    async (name, ending) => {
      const dir = mkdtempSync(join(tmpdir(), 'lifecycle-'));
      const run = launch(dir, ending.how);
      let processes: ProcessId[] = [];
      try {
        await waitUp(run);
        processes = processesOf(run);
        const tracked = processes;
        const endedAt = Date.now();
        await ending.end(run);
        const alive = await waitAllGone(tracked, GONE_WITHIN_MS);
        expect(alive.map((p) => `${p.pid} ${p.args}`)).toEqual([]);
        const exit = await run.exited;
        if (ending.code !== undefined) expect(exit.code).toBe(ending.code);
        if (ending.stderr) expect(run.stderr).toMatch(ending.stderr);
        expect(run.stderr).not.toMatch(/^\s+at /m); // never a stack trace
        process.stdout.write(`${name}: all ${tracked.length} processes gone in ${Date.now() - endedAt} ms\n`);
      } finally {
        killAll(processes);
        run.child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
