/*
 * An exclusive lock on a node's data dir: two processes writing one Raft log both act as the same member,
 * both can become leader, and acknowledged entries are lost (issue "Ledger cluster safety", finding 3).
 *
 * Why a hand-written O_EXCL lock file rather than flock or proper-lockfile:
 *   - Node has no flock/fcntl in its standard library (only native add-ons such as fs-ext, which need a build).
 *   - proper-lockfile judges staleness by mtime only: a node killed with -9 could restart only after the stale
 *     period (10 s by default), and it records no owner, so a refused process could not name the holder.
 *   Here the lock file `LOCK` is created with O_CREAT|O_EXCL (atomic on local file systems and on NFSv4, i.e. EFS)
 *   and holds JSON {pid, hostname, bootId, procStart, since, token}. A leftover file is stale when
 *     - its holder ran on this host (same hostname and kernel boot id) and that pid is ourselves, is not running,
 *       or is now another process (its start time in /proc differs): taken over at once, so a crashed node
 *       restarts without delay;
 *     - its holder ran elsewhere (another container or machine sharing the volume): the holder refreshes the
 *       file's mtime every leaseMs/6, and a file not refreshed for leaseMs is taken over.
 *   Take-over checks that the file is still the one judged stale (same inode) right before unlinking it, then
 *   creates a new one with O_EXCL again; of two processes taking over at once, one wins and the other sees a
 *   live holder. The holder also re-reads the file on every refresh and stops the node if its token is gone.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DataDirRefusedError } from './refusal';
import { isProcessAlive } from '../../../shared/process/pid';

export const LOCK_FILE = 'LOCK';
export const DEFAULT_LOCK_LEASE_MS = 30_000;

export interface LockHolder {
  pid: number;
  hostname: string;
  bootId: string | null;
  /** The holder's start time in clock ticks since boot (/proc/<pid>/stat field 22), to detect pid reuse. */
  procStart: string | null;
  /** When the holder took the lock (ISO 8601). */
  since: string;
  token: string;
}

export class DataDirLockedError extends DataDirRefusedError {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | null,
  ) {
    super(
      holder
        ? `data dir ${dir} is in use by pid ${holder.pid} on host ${holder.hostname} since ${holder.since} ` +
            `(lock file ${path.join(dir, LOCK_FILE)}); two processes on one data dir would both act as this member`
        : `data dir ${dir} is being locked by another process right now (lock file ${path.join(dir, LOCK_FILE)} is empty)`,
    );
    this.name = 'DataDirLockedError';
  }
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

const BOOT_ID = readText('/proc/sys/kernel/random/boot_id');

function procStart(pid: number): string | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return null;
  // Fields after the command name (which may hold spaces and parentheses) start at field 3.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

function parseHolder(text: string): LockHolder | null {
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    return typeof v.pid === 'number' && typeof v.token === 'string' && typeof v.hostname === 'string'
      ? (v as LockHolder)
      : null;
  } catch {
    return null;
  }
}

/** Why the lock held by `holder` (file last touched `ageMs` ago) may be taken over, or null while it is live. */
export function staleReason(holder: LockHolder | null, ageMs: number, leaseMs: number): string | null {
  if (!holder) return ageMs > leaseMs ? `an unreadable lock file untouched for ${ageMs} ms` : null;
  if (holder.hostname === os.hostname() && holder.bootId === BOOT_ID) {
    if (holder.pid === process.pid) return `its pid ${holder.pid} is this process (a restarted container)`;
    if (!isProcessAlive(holder.pid)) return `pid ${holder.pid} is not running`;
    if (holder.procStart && procStart(holder.pid) !== holder.procStart)
      return `pid ${holder.pid} is another process now`;
    return null;
  }
  return ageMs > leaseMs ? `holder on host ${holder.hostname} has not refreshed it for ${ageMs} ms` : null;
}

export interface DataDirLockOptions {
  leaseMs?: number;
  /** Called when the lock file no longer carries our token (someone removed or took it): stop writing. */
  onLost?: (detail: string) => void;
  /** Called when a stale lock was taken over. */
  onTakeover?: (reason: string, holder: LockHolder | null) => void;
}

export class DataDirLock {
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    readonly file: string,
    readonly holder: LockHolder,
    private fd: number | null,
  ) {}

  /** Takes the lock on `dir` (which must exist) or throws DataDirLockedError naming the live holder. */
  static acquire(dir: string, opts: DataDirLockOptions = {}): DataDirLock {
    const leaseMs = opts.leaseMs ?? DEFAULT_LOCK_LEASE_MS;
    const file = path.join(dir, LOCK_FILE);
    const me: LockHolder = {
      pid: process.pid,
      hostname: os.hostname(),
      bootId: BOOT_ID,
      procStart: procStart(process.pid),
      since: new Date().toISOString(),
      token: randomBytes(12).toString('hex'),
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      let fd: number;
      try {
        fd = fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        DataDirLock.takeOverIfStale(file, leaseMs, opts);
        continue;
      }
      fs.writeSync(fd, JSON.stringify(me));
      fs.fsyncSync(fd);
      const lock = new DataDirLock(file, me, fd);
      lock.timer = setInterval(() => lock.refresh(opts.onLost), Math.max(100, leaseMs / 6));
      lock.timer.unref();
      return lock;
    }
    throw new DataDirLockedError(dir, parseHolder(readText(file) ?? ''));
  }

  /** Removes a stale lock file (throwing DataDirLockedError if it is live); returns to let the caller retry. */
  private static takeOverIfStale(file: string, leaseMs: number, opts: DataDirLockOptions): void {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      return; // gone meanwhile: retry the create
    }
    const holder = parseHolder(readText(file) ?? '');
    const reason = staleReason(holder, Date.now() - stat.mtimeMs, leaseMs);
    if (reason === null) throw new DataDirLockedError(path.dirname(file), holder);
    // Unlink only the very file judged stale: another process may have replaced it since.
    try {
      if (fs.statSync(file).ino !== stat.ino) return;
      fs.unlinkSync(file);
    } catch {
      return;
    }
    opts.onTakeover?.(reason, holder);
  }

  private refresh(onLost?: (detail: string) => void): void {
    if (this.fd === null) return;
    const current = parseHolder(readText(this.file) ?? '');
    if (current?.token !== this.holder.token) {
      this.stopTimer();
      onLost?.(
        current
          ? `lock file ${this.file} now names pid ${current.pid} on ${current.hostname}`
          : `lock file ${this.file} is gone`,
      );
      return;
    }
    const now = new Date();
    try {
      fs.futimesSync(this.fd, now, now);
    } catch {
      // A failed refresh only shortens the lease a remote process sees; the next one tries again.
    }
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Releases the lock: removes the file if it is still ours. */
  release(): void {
    this.stopTimer();
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
    if (parseHolder(readText(this.file) ?? '')?.token === this.holder.token) fs.rmSync(this.file, { force: true });
  }
}
