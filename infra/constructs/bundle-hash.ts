import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** The repository root (this file is infra/constructs/bundle-hash.ts). */
const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Everything a function bundle is built from, apart from its bundling options: every source a handler can import
 * (test/integration/infra/bundle-inputs.test.ts has esbuild list each entry's inputs and fails on one that lies
 * elsewhere) and what fixes the dependencies' versions and the compiler's settings.
 */
export const BUNDLE_INPUTS = [
  'functions',
  'shared',
  'infra/handlers',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
] as const;

const memo = new Map<string, string>();

/** Every file under `entry` (a file or a folder), as paths relative to `root`, in a stable order. */
function filesOf(root: string, entry: string): string[] {
  const full = path.join(root, entry);
  if (!statSync(full).isDirectory()) return [entry];
  return readdirSync(full, { withFileTypes: true })
    .map((d) => d.name)
    .sort()
    .flatMap((name) => filesOf(root, path.posix.join(entry, name)));
}

/**
 * A digest of BUNDLE_INPUTS under `root` (each file's path and content): the same sources give the same digest, any
 * change to one gives another. Computed once per root and process (a synth reads ~100 small files once).
 */
export function bundleSourceHash(root: string = REPO_ROOT): string {
  const known = memo.get(root);
  if (known) return known;
  const hash = createHash('sha256');
  for (const file of BUNDLE_INPUTS.flatMap((entry) => filesOf(root, entry))) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(path.join(root, file)));
    hash.update('\0');
  }
  const digest = hash.digest('hex');
  memo.set(root, digest);
  return digest;
}

/**
 * The custom asset hash of a function bundled from `entry` (NodejsFunction's `bundling.assetHash`): the sources'
 * digest and the entry. The CDK hashes it again together with the bundling options, so an option change is a new
 * asset too. Why custom: with the default (a hash of esbuild's output) the CDK must bundle to learn the hash, so
 * every synth ran esbuild for every function — two thirds of a synth's time (26 s, of which 19 s bundling, measured
 * in docs/performance.md). With a hash known beforehand, a synth whose output folder already holds the bundle skips
 * bundling it: the CDK CLI's own `cdk.out` between runs, and the embedded cloud's cache
 * (local-cloud/deploy/asset-cache.ts).
 */
export function bundleAssetHash(entry: string, root: string = REPO_ROOT): string {
  return createHash('sha256')
    .update(`${bundleSourceHash(root)}\0${path.relative(root, entry)}`)
    .digest('hex');
}
