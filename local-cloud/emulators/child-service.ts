import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { STDIN_PARENT_WATCH } from '../../shared/process/parent-watch';
import { isProcessAlive } from '../../shared/process/pid';
import { sleep } from '../../shared/util/wait';
import { bundledScript } from '../process-bundle';

const SUPERVISE = resolve(__dirname, '../../shared/process/supervise.ts');

/** An emulator or helper process started by us, reachable over HTTP on loopback. */
export interface ChildService {
  readonly name: string;
  readonly endpoint: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnServiceOptions {
  name: string;
  command: string;
  args: string[];
  port: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the port to answer HTTP before giving up (a JVM on a loaded 2-core box can take tens of seconds). */
  startTimeoutMs?: number;
  /** Where the child's stdout/stderr go; defaults to being discarded (kept in a ring for error messages). */
  onOutput?: (line: string) => void;
}

/**
 * How to spawn `command args` so that it stops when this process goes, for a program that cannot watch
 * its parent itself: under shared/process/supervise.ts, which watches us through a stdin pipe
 * (parent-watch.ts) and stops the program when we are gone — even after SIGKILL, which runs no cleanup
 * of ours. Spread `env` into the child's env and use `stdin` as its stdin; leave child.stdin open.
 */
export function supervised(command: string, args: string[]) {
  // Bundled to plain JS like the Raft nodes (process-bundle.ts): a start runs five or six supervisors, each ~0.5 s of
  // CPU under tsx's loader. The bundle's absolute path also works from the program's cwd (DynamoDB Local's folder).
  const script = bundledScript(SUPERVISE, 'process/supervise.js');
  return {
    command: process.execPath,
    args: ['--enable-source-maps', script, command, ...args],
    env: STDIN_PARENT_WATCH.env,
    stdin: STDIN_PARENT_WATCH.stdin,
  };
}

/**
 * A free TCP port on loopback, for a service to bind next — chosen BELOW the kernel's ephemeral range. A port the OS
 * hands out for `listen(0)` comes from the ephemeral range, the same range every outgoing connection takes its local
 * port from: between this function releasing such a port and the service binding it, any connection on the machine
 * could take it (a Raft node failed to start with EADDRINUSE that way in a bench run). Below the range only another
 * explicit bind can take it, and every launcher of ours reserves what it hands out (reserve() below), so neither this
 * process nor another of ours hands the port out again. Falls back to the OS's choice where the range is unknown
 * (not Linux) or leaves no room below it.
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  if (low > FIXED_PORTS_END + 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = FIXED_PORTS_END + Math.floor(Math.random() * (low - FIXED_PORTS_END));
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      // Reserved before the probe bind: a port another launcher of ours holds is not even bound for a moment.
      if (!reserve(port)) continue;
      if (await bindable(port)) return port;
      release(port);
    }
  }
  return osAssignedPort();
}

/** Below this, well-known and registered services' fixed ports; the choice above stays clear of them. */
const FIXED_PORTS_END = 10_000;
/** Ports this process has handed out or found taken: never tried again. */
const handedOut = new Set<number>();

/**
 * Reservations across processes. Launchers of ours run side by side (jest's two workers, a bench beside `npm start`)
 * and each binds a chosen port only seconds later (a Raft node's start): two could choose the same free port in
 * between, and one node then exits with EADDRINUSE — a CI run lost a suite that way, its cluster waiting 60 s for a
 * peer that never came. So a port handed out is also a file in a shared folder, created exclusively and naming this
 * process; it is released when this process exits, and one whose process is gone is cleared by the next launcher
 * (a process killed outright; and every jest worker: a test file's `process` is jest's sandbox, which never emits
 * `exit`). By hand: get-port and portfinder remember their ports within one process only.
 */
// Machine-wide, not os.tmpdir(): a jest run points TMPDIR at a folder of its own, and it may run beside `npm start`.
export const PORT_RESERVATIONS = join(
  existsSync('/tmp') ? '/tmp' : tmpdir(),
  `local-cloud-ports-${process.getuid?.() ?? 'user'}`,
);
let reservationsReady = false;
/** A reservation file still without its owner's pid after this long was abandoned mid-write (a crash). */
const ABANDONED_MS = 60_000;

function reserve(port: number): boolean {
  if (!reservationsReady) prepareReservations();
  try {
    writeFileSync(join(PORT_RESERVATIONS, String(port)), String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** Once per process: the folder, the orphans of processes gone, and the release of ours at exit. */
function prepareReservations(): void {
  mkdirSync(PORT_RESERVATIONS, { recursive: true });
  for (const name of readdirSync(PORT_RESERVATIONS)) {
    const file = join(PORT_RESERVATIONS, name);
    let owner = 0;
    try {
      owner = Number(readFileSync(file, 'utf8'));
      // Empty: being written by its owner right now (created, pid not yet in) — unless long abandoned.
      if (!owner && Date.now() - statSync(file).mtimeMs < ABANDONED_MS) continue;
    } catch {
      continue; // released meanwhile
    }
    if (!owner || !isProcessAlive(owner)) rmSync(file, { force: true });
  }
  process.once('exit', () => {
    for (const port of handedOut) release(port);
  });
  reservationsReady = true;
}

/** Removes this process's reservation of `port`, if it holds one. */
function release(port: number): void {
  const file = join(PORT_RESERVATIONS, String(port));
  try {
    if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // not reserved, or gone
  }
}

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // Not Linux: no range to stay out of.
  }
  return [0, 0];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function osAssignedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves when anything answers an HTTP request on the port (any status counts as up). */
export async function waitForHttp(port: number, timeoutMs: number, isDead: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = isDead();
    if (dead) throw new Error(dead);
    const up = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', timeout: 500 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
      req.end();
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for port ${port}`);
    await sleep(100);
  }
}

/**
 * Hands `onLine` the whole lines of a child's output stream: a pipe's chunks end anywhere, and a line cut in two would
 * be two wrong lines (kinesalite's write signal is one line, emulators/kinesis.ts). Decoded as UTF-8 by the stream, so
 * a character cut in two is joined too; a last line without its newline is handed on when the stream ends.
 */
function readLines(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => onLine(partial));
}

export async function spawnService(opts: SpawnServiceOptions): Promise<ChildService> {
  const recent: string[] = [];
  // Emulators are third-party programs (a JVM, kinesalite, fauxqs) that cannot watch their parent, so
  // each runs supervised (see supervised()). A process group of its own keeps a Ctrl-C at the terminal
  // from killing it before we have stopped what uses it; stop() ends the group.
  const { command, args, env, stdin } = supervised(opts.command, opts.args);
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true,
  });
  let exit: string | undefined;
  child.on('exit', (code, signal) => {
    exit = `${opts.name} exited (code ${code}, signal ${signal}) before it was ready:\n${recent.join('\n')}`;
  });
  child.on('error', (err) => {
    exit = `${opts.name} could not start: ${err.message}`;
  });
  const onLine = (line: string) => {
    if (!line) return;
    recent.push(line);
    if (recent.length > 40) recent.shift();
    opts.onOutput?.(line);
  };
  readLines(child.stdout, onLine);
  readLines(child.stderr, onLine);

  const stop = async (graceMs = 3000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitForHttp(opts.port, opts.startTimeoutMs ?? 90_000, () => exit);
  } catch (err) {
    await stop(500);
    throw new Error(`${opts.name}: ${(err as Error).message}`);
  }
  return { name: opts.name, endpoint: `http://127.0.0.1:${opts.port}`, port: opts.port, process: child, stop };
}

/** A signal to the child's whole process group (the supervisor and its program); the child alone if that fails. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}
