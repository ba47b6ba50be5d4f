/**
 * Processes we start must not outlive the process that started them, however it ends — including
 * SIGKILL, which runs no handler in the parent, so the parent cannot clean up and the child has to
 * notice on its own.
 *
 * How a child notices: the launcher gives it a pipe as stdin and keeps the write end open, never
 * writing to it. The kernel closes that write end when the launcher exits for any reason (SIGKILL
 * included), so the child reads end-of-file at once. This beats polling `process.ppid` (latency, and a
 * reparenting subreaper can look like a live parent) and needs no cooperation from the dying parent.
 * Node opens its pipes close-on-exec and hands each child only its own stdio, so no sibling keeps the
 * write end open by accident. A child forked with an IPC channel gets the same signal for free: the
 * channel's `disconnect` event.
 *
 * Opt-in: a child watches only when the launcher sets PARENT_WATCH in its env (`stdin` or `ipc`), so
 * the same program still runs standalone (`npm run raft-node`, the Docker image) where stdin is a
 * terminal, /dev/null or closed.
 *
 * For a top-level command whose parent is npm or a shell we do not control, `watchOwnParent` polls
 * `process.ppid` instead: `npm start` forwards SIGTERM to its `sh -c`, which dies without passing it on
 * (dash), leaving our command reparented — a changed ppid is the only trace of that.
 */

export const PARENT_WATCH_ENV = 'PARENT_WATCH';
export type ParentWatchMode = 'stdin' | 'ipc';

/**
 * What a launcher adds to its spawn options so the child watches it through stdin: the pipe (stdin
 * of the stdio array) and the env var. The launcher must leave `child.stdin` open and unwritten.
 */
export const STDIN_PARENT_WATCH = {
  stdin: 'pipe',
  env: { [PARENT_WATCH_ENV]: 'stdin' },
} as const;

/**
 * Child side: calls `onGone` once when the launcher that set PARENT_WATCH has gone. Returns whether a
 * watch was started (false when PARENT_WATCH is unset, i.e. the process runs standalone).
 */
export function watchParent(onGone: (why: string) => void, env: NodeJS.ProcessEnv = process.env): boolean {
  const mode = env[PARENT_WATCH_ENV];
  if (mode === undefined || mode === '') return false;
  let fired = false;
  const gone = (why: string) => {
    if (fired) return;
    fired = true;
    // Our stdout/stderr usually lead to the same dead parent: writing there now fails with EPIPE, which
    // must not crash a process that is busy shutting down cleanly.
    ignoreBrokenOutput();
    onGone(why);
  };
  if (mode === 'stdin') {
    const stdin = process.stdin;
    stdin.on('end', () => gone('parent gone (stdin closed)'));
    stdin.on('error', () => gone('parent gone (stdin error)'));
    stdin.resume(); // read and discard: nothing is ever written, we only wait for end-of-file
    // The watch alone must not keep a process alive that would otherwise exit.
    (stdin as unknown as { unref?: () => void }).unref?.();
    return true;
  }
  if (mode === 'ipc') {
    if (!process.connected) {
      gone('parent gone (no IPC channel)');
      return true;
    }
    process.once('disconnect', () => gone('parent gone (IPC channel closed)'));
    return true;
  }
  throw new Error(`${PARENT_WATCH_ENV} must be stdin or ipc, got '${mode}'`);
}

/**
 * For a process whose parent we do not control (npm, a shell): calls `onGone` once when this process
 * has been reparented. Returns a function that stops the watch.
 */
export function watchOwnParent(onGone: (why: string) => void, intervalMs = 500): () => void {
  const original = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === original) return;
    clearInterval(timer);
    onGone(`parent process ${original} gone`);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Swallows EPIPE and friends on stdout/stderr: whoever read them is gone. */
export function ignoreBrokenOutput(): void {
  for (const stream of [process.stdout, process.stderr])
    if (stream.listenerCount('error') === 0) stream.on('error', () => undefined);
}
