import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from '../../shared/util/wait';

/** A process as /proc shows it; `start` (clock ticks after boot) tells a reused pid from the original. */
export interface ProcessId {
  pid: number;
  start: string;
  args: string;
}

interface ProcStat {
  ppid: number;
  state: string;
  start: string;
}

function stat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', ppid: Number(fields[1]), start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

/** A /proc file of `pid`, '' when the process is gone (or not ours to read). */
function procFile(pid: number, file: 'cmdline' | 'environ'): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

const args = (pid: number): string => procFile(pid, 'cmdline').replace(/\0/g, ' ').trim();

/** Every pid /proc lists now. */
const pids = (): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);

/**
 * Every live descendant of `root` (children, theirs, …), whatever process group or session they run in:
 * found by parent pid, so a child that made itself a group leader (our Raft nodes) is still found.
 */
export function descendants(root: number): ProcessId[] {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    const s = stat(pid);
    if (s) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  }
  const found: ProcessId[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    const s = stat(pid);
    if (!s || s.state === 'Z') continue;
    found.push({ pid, start: s.start, args: args(pid) });
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/**
 * Every live process whose command line or environment names `path` (a data dir: the Raft nodes get theirs in
 * RAFT_DATA_DIR, DynamoDB Local in -dbPath, the functions' workers their code under it) — whoever its parent now is,
 * so a process its launcher left behind (reparented to init) is found too.
 */
export function processesNaming(path: string): ProcessId[] {
  const found: ProcessId[] = [];
  for (const pid of pids()) {
    if (pid === process.pid) continue;
    const s = stat(pid);
    if (!s || s.state === 'Z') continue;
    const a = args(pid);
    if (a.includes(path) || procFile(pid, 'environ').includes(path)) found.push({ pid, start: s.start, args: a });
  }
  return found;
}

/** Those of `processes` still running (a zombie has ended; a pid taken by a new process is not ours). */
export function survivors(processes: ProcessId[]): ProcessId[] {
  return processes.filter((p) => {
    const s = stat(p.pid);
    return s !== undefined && s.state !== 'Z' && s.start === p.start;
  });
}

/** Polls until none of `processes` runs; resolves with those still running at `timeoutMs`. */
export async function waitAllGone(processes: ProcessId[], timeoutMs: number): Promise<ProcessId[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = survivors(processes);
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await sleep(100);
  }
}

/** SIGKILL to whatever of `processes` is still running: a failed test must not leave them behind. */
export function killAll(processes: ProcessId[]): void {
  for (const p of survivors(processes)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
