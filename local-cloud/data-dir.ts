import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DataDirLock, DataDirLockedError, LOCK_FILE } from '../raft-node/src/storage/data-dir-lock';

/**
 * The embedded cloud's hold on its data dir: one stack per directory. Two stacks on one dir run two DynamoDB Locals
 * on one SQLite file, two sets of Raft nodes the second of which refuses to start, and a second `npm run bench` (or
 * `npm start --fresh`) empties the dir under the first: its Raft nodes lose their lock files and stop, and its
 * mappings' checkpoints point into a stream that no longer exists. So the stack takes the dir's lock first, and
 * empties it (`fresh`) only once the lock is its own.
 *
 * The lock is the Raft nodes' own (raft-node/src/storage/data-dir-lock.ts: an O_EXCL file naming its holder, taken
 * over at once when that holder is a dead process on this host, so a stack killed with -9 does not block the next).
 * The nodes lock their own directories below this one (raft/n1 …), so the two never meet.
 */
export class DataDirInUseError extends Error {
  constructor(dir: string, cause: DataDirLockedError) {
    const holder = cause.holder;
    super(
      holder
        ? `data dir ${dir} is in use by pid ${holder.pid} on host ${holder.hostname} since ${holder.since} ` +
            `(another npm start, bench or chaos run; lock file ${join(dir, LOCK_FILE)}): stop that one first, or ` +
            `give this one another directory`
        : cause.message,
    );
    this.name = 'DataDirInUseError';
  }
}

/**
 * Takes `dir` for this process (creating it), or throws DataDirInUseError naming the live holder; with `fresh`,
 * then empties it (all but the lock). `onLost` is called if the lock file is later removed or taken by another.
 */
export function claimDataDir(dir: string, opts: { fresh?: boolean; onLost: (detail: string) => void }): DataDirLock {
  mkdirSync(dir, { recursive: true });
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(dir, { onLost: opts.onLost });
  } catch (error) {
    throw error instanceof DataDirLockedError ? new DataDirInUseError(dir, error) : error;
  }
  if (opts.fresh) {
    for (const entry of readdirSync(dir)) {
      if (entry !== LOCK_FILE) rmSync(join(dir, entry), { recursive: true, force: true });
    }
  }
  return lock;
}
