/**
 * `node --import tsx shared/process/supervise.ts <command> [args...]`
 *
 * A tiny supervisor for third-party programs we cannot teach to watch their parent (DynamoDB Local's
 * JVM, kinesalite, dynalite, fauxqs): it runs the program as its child and watches *its* parent the
 * way our own children do (parent-watch.ts, PARENT_WATCH=stdin). When the launcher goes — even by
 * SIGKILL — the supervisor sees end-of-file on stdin, sends the program SIGTERM (SIGKILL after
 * SUPERVISE_GRACE_MS, default 3000) and exits. Signals sent to the supervisor (SIGTERM, SIGINT, SIGHUP)
 * are passed on, and it exits as the program did, so to the launcher it looks like the program itself.
 * The program shares the supervisor's process group, so the launcher's last resort — SIGKILL to that
 * group — takes both.
 */
import { spawn } from 'node:child_process';
import { PARENT_WATCH_ENV, watchParent } from './parent-watch';

function main(): void {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    process.stderr.write('usage: supervise <command> [args...]\n');
    process.exit(2);
  }
  const graceMs = Number(process.env.SUPERVISE_GRACE_MS ?? 3000);
  const env = { ...process.env };
  delete env[PARENT_WATCH_ENV]; // the program is watched by us, not by itself
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env });
  child.on('error', (err) => {
    process.stderr.write(`supervise: cannot start ${command}: ${err.message}\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      // Die the same way, so the launcher sees the program's own ending.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  watchParent(() => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
  });
}

main();
