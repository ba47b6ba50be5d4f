import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildSync } from 'esbuild';
import { isProcessAlive } from '../shared/process/pid';

/**
 * Scripts the embedded cloud starts as processes again and again — a Raft node, a Lambda worker's host — bundled
 * once per launcher process with esbuild (as the Dockerfile does for raft-node): a process then starts from one plain
 * JS file, not under a TypeScript loader that transpiles it module by module and runs its hooks on a thread of their
 * own. A worker host under tsx took 649 ms to be ready and 0.93 s of CPU, bundled 282 ms and 0.33 s
 * (docs/performance.md). The bundles live in one folder per launcher, removed at its exit.
 */
const PREFIX = 'local-cloud-bundles-';
let folder: string | undefined;
const built = new Map<string, string>();

/** A launcher killed outright (SIGKILL) never runs its exit hook: its folder is removed by the next launcher. */
function removeOrphanedFolders(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid || isProcessAlive(pid)) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function bundleFolder(): string {
  if (folder) return folder;
  removeOrphanedFolders();
  const dir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  folder = dir;
  return dir;
}

/**
 * `entry` bundled for Node (with a source map) as `<this launcher's folder>/<outName>`, built on the first call and
 * the same file after. `outName` keeps the script recognisable in a process list (`runtime/worker-host.js`).
 * `external`: packages loaded from the repository's node_modules at run time (a native addon cannot be bundled).
 */
export function bundledScript(entry: string, outName: string, external: string[] = []): string {
  const known = built.get(outName);
  if (known) return known;
  const outfile = join(bundleFolder(), outName);
  mkdirSync(dirname(outfile), { recursive: true });
  buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    outfile,
    sourcemap: true,
    logLevel: 'error',
    external,
  });
  built.set(outName, outfile);
  return outfile;
}
