import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time (user + system) of a whole process tree, from Linux's /proc, so the bench can say what an executed
 * order costs across every process of the stack — not just its own. The Raft nodes and the Lambda workers run in
 * process groups of their own (detached), so groups do not find them; parent pids do.
 */

/** Where the CPU goes: the emulators (DynamoDB Local, kinesalite, fauxqs), the Raft nodes, the Lambda workers, the rest. */
export type ProcessKind = 'emulators' | 'raft' | 'functions' | 'bench';
export const PROCESS_KINDS: readonly ProcessKind[] = ['emulators', 'raft', 'functions', 'bench'];

export interface ProcessStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

/**
 * Parses one /proc/<pid>/stat line. The command name (field 2) is in parentheses and may hold spaces or
 * parentheses itself, so the fields are counted from the last ')'.
 */
export function parseProcStat(line: string): ProcessStat | undefined {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // After ')': state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
  const f = line
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const n = (i: number) => Number(f[i]);
  const stat = { pid: Number(line.slice(0, open)), ppid: n(1), ticks: n(11) + n(12) + n(13) + n(14) };
  return Number.isFinite(stat.pid) && Number.isFinite(stat.ticks) ? stat : undefined;
}

/** Which part of the stack a command line belongs to (see the spawn calls in local-cloud/). */
export function classifyCommand(cmdline: string): ProcessKind {
  if (/DynamoDBLocal|kinesalite|fauxqs|dynalite/.test(cmdline)) return 'emulators';
  // tsx on raft-node/src/main.ts, or the esbuild bundles local-cloud/process-bundle.ts makes (…/raft-node.js,
  // …/runtime/worker-host.js).
  if (/raft-node\/|\/raft-node\.js\b/.test(cmdline)) return 'raft';
  if (/runtime\/worker-host/.test(cmdline)) return 'functions';
  return 'bench';
}

/**
 * A finer name than the kind, for the per-process breakdown: the Lambda function a worker runs (its
 * AWS_LAMBDA_FUNCTION_NAME, without the stack's prefix), the emulator, 'raft', or 'bench' (the root: edge,
 * pollers, logs emulator, load generator). `environ` is the process's /proc/<pid>/environ (NUL-separated).
 */
export function processLabel(kind: ProcessKind, cmdline: string, environ: string): string {
  if (kind === 'functions') {
    const name = /(?:^|\0)AWS_LAMBDA_FUNCTION_NAME=([^\0]*)/.exec(environ)?.[1];
    return `fn ${name?.replace(/^.*-(?=[^-]+$)/, '') ?? 'unknown'}`;
  }
  if (kind === 'emulators') {
    if (/DynamoDBLocal/.test(cmdline)) return 'DynamoDB Local';
    return /kinesalite|dynalite/.exec(cmdline)?.[0] ?? 'fauxqs';
  }
  return kind;
}

export interface TreeSample {
  /** Per process kind, clock ticks (see ProcessStat.ticks) summed over the tree's live processes. */
  ticks: Record<ProcessKind, number>;
  /** The same ticks per processLabel. */
  byLabel: Record<string, number>;
  processes: number;
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process exited between the listing and the read
  }
};

/**
 * Samples the CPU of `root` and every process descending from it. Each process counts its own time plus its
 * reaped children's (cutime/cstime): a process that exits between two samples then still counts, under its
 * parent's kind, so the difference of two samples is the tree's CPU in between.
 */
export function sampleProcessTree(root: number = process.pid): TreeSample {
  const stats: ProcessStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const line = readText(`/proc/${name}/stat`);
    const stat = line === undefined ? undefined : parseProcStat(line);
    if (stat) stats.push(stat);
  }
  const children = new Map<number, ProcessStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const ticks: Record<ProcessKind, number> = { emulators: 0, raft: 0, functions: 0, bench: 0 };
  const byLabel: Record<string, number> = {};
  let processes = 0;
  const rootStat = stats.find((s) => s.pid === root);
  // A helper process a part of the stack starts (tsx's esbuild service under a worker, a supervisor's child)
  // counts as its parent's: only a process that is itself recognised starts a part of its own.
  type Pending = { stat: ProcessStat; parent?: { kind: ProcessKind; label: string } };
  const pending: Pending[] = rootStat ? [{ stat: rootStat }] : [];
  for (let p = pending.pop(); p; p = pending.pop()) {
    const { stat } = p;
    processes++;
    const cmdline = (readText(`/proc/${stat.pid}/cmdline`) ?? '').replace(/\0/g, ' ');
    const own = stat.pid === root ? 'bench' : classifyCommand(cmdline);
    const part =
      own === 'bench' && p.parent
        ? p.parent
        : { kind: own, label: processLabel(own, cmdline, readText(`/proc/${stat.pid}/environ`) ?? '') };
    ticks[part.kind] += stat.ticks;
    byLabel[part.label] = (byLabel[part.label] ?? 0) + stat.ticks;
    for (const child of children.get(stat.pid) ?? [])
      pending.push({ stat: child, ...(stat.pid === root ? {} : { parent: part }) });
  }
  return { ticks, byLabel, processes };
}

let clockTicksPerSecond: number | undefined;
/** The kernel's clock ticks per second for /proc times (`getconf CLK_TCK`, 100 on nearly every Linux). */
export function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/**
 * CPU milliseconds per process label between two samples, largest first. A label absent before (a worker started
 * during the step) counts from zero.
 */
export function cpuMsByLabel(before: TreeSample, after: TreeSample): [string, number][] {
  const msPerTick = 1000 / clockTicks();
  return Object.entries(after.byLabel)
    .map(([label, t]): [string, number] => [label, (t - (before.byLabel[label] ?? 0)) * msPerTick])
    .sort((a, b) => b[1] - a[1]);
}

/** CPU milliseconds per process kind (and in total) between two samples. */
export function cpuMsBetween(before: TreeSample, after: TreeSample): Record<ProcessKind | 'total', number> {
  const msPerTick = 1000 / clockTicks();
  const out = { emulators: 0, raft: 0, functions: 0, bench: 0, total: 0 };
  for (const kind of PROCESS_KINDS) {
    out[kind] = (after.ticks[kind] - before.ticks[kind]) * msPerTick;
    out.total += out[kind];
  }
  return out;
}
