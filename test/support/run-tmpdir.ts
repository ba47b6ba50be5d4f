import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One temporary folder per jest run, removed when the run ends. Tests, the embedded stacks they start, CDK's
 * synth (an App without an outdir writes a `cdk.out*` folder) and every child process that inherits the
 * environment make their temporary files under os.tmpdir(); a whole run used to leave ~450 MB in /tmp (data dirs of
 * embedded stacks, Lambda code, assemblies), kept after passing runs as after failing ones. Setting TMPDIR in the
 * global setup, before any worker or emulator starts, puts all of it under this run's folder; the global teardown
 * deletes it after the emulators stop. `KEEP_TEST_TMP=1` keeps it (its path is printed) to look at after a failure.
 * Both jest projects call these (their global setups and teardowns run in jest's main process, one after another):
 * the first setup makes the folder, the last teardown deletes it, after the integration emulators have stopped.
 */
const RUN_DIR_ENV = 'JEST_RUN_TMPDIR';
const ORIGINAL_TMPDIR_ENV = 'JEST_RUN_ORIGINAL_TMPDIR';
const USERS_ENV = 'JEST_RUN_TMPDIR_USERS';

const users = () => Number(process.env[USERS_ENV] ?? '0');

export function enterRunTmpdir(): void {
  process.env[USERS_ENV] = String(users() + 1);
  if (process.env[RUN_DIR_ENV]) return;
  const dir = mkdtempSync(join(tmpdir(), 'jest-run-'));
  process.env[ORIGINAL_TMPDIR_ENV] = process.env.TMPDIR ?? '';
  process.env[RUN_DIR_ENV] = dir;
  process.env.TMPDIR = dir;
}

export function leaveRunTmpdir(): void {
  const dir = process.env[RUN_DIR_ENV];
  process.env[USERS_ENV] = String(users() - 1);
  if (!dir || users() > 0) return;
  delete process.env[USERS_ENV];
  const original = process.env[ORIGINAL_TMPDIR_ENV];
  if (original) process.env.TMPDIR = original;
  else delete process.env.TMPDIR;
  delete process.env[RUN_DIR_ENV];
  delete process.env[ORIGINAL_TMPDIR_ENV];
  if (process.env.KEEP_TEST_TMP === '1') {
    process.stdout.write(`\nKEEP_TEST_TMP=1: this run's temporary files are in ${dir}\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}
