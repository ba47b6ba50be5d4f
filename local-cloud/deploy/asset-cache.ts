import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cdk-cli';

/**
 * Function bundles kept between the embedded cloud's syntheses. Every `npm start`, bench, chaos scenario and test
 * stack synthesizes PipelineStack into a fresh folder, and bundling its functions with esbuild was two thirds of a
 * synth (docs/performance.md). The functions' asset hashes are known before bundling (infra/constructs/bundle-hash.ts:
 * a digest of their sources), and the CDK does not bundle an asset whose folder the output already holds — so a synth
 * seeded with the bundles of the same sources skips esbuild, and sources that changed get new hashes, hence new
 * folders, bundled afresh. Under node_modules/.cache (the usual home of build caches): `npm ci` starts it empty.
 */
export const ASSET_CACHE_DIR = join(REPO_ROOT, 'node_modules', '.cache', 'trading-pipeline', 'assets');
/** A cached bundle no synthesis used for this long is removed (older sources; another synth may still be seeding). */
const UNUSED_MS = 60 * 60_000;

const isAssetDir = (name: string) => /^asset\.[0-9a-f]{64}$/.test(name);
/** What a store or a removal cut short (the process killed, the disk full) leaves: pruned like an unused bundle. */
const isLeftover = (name: string) => /^partial\.\d+\.asset\.|\.removing\.\d+$/.test(name);

/** The asset folders an assembly's asset manifests name (`<stack>.assets.json`). */
export function referencedAssets(outdir: string): Set<string> {
  const names = new Set<string>();
  for (const file of readdirSync(outdir).filter((f) => f.endsWith('.assets.json'))) {
    const manifest = JSON.parse(readFileSync(join(outdir, file), 'utf8')) as {
      files?: Record<string, { source?: { path?: string } }>;
    };
    for (const { source } of Object.values(manifest.files ?? {}))
      if (source?.path && isAssetDir(source.path)) names.add(source.path);
  }
  return names;
}

/**
 * Copies every cached bundle into `outdir` (before a synth). A bundle is only ever in the cache whole (stored by a
 * rename), but one may be removed while it is copied: a copy that fails is removed, never left half there (the CDK
 * would take a half folder for a built bundle).
 */
export function seedAssets(outdir: string, cacheDir: string = ASSET_CACHE_DIR): number {
  if (!existsSync(cacheDir)) return 0;
  mkdirSync(outdir, { recursive: true });
  let seeded = 0;
  for (const name of readdirSync(cacheDir).filter(isAssetDir)) {
    try {
      cpSync(join(cacheDir, name), join(outdir, name), { recursive: true });
      seeded++;
    } catch {
      rmSync(join(outdir, name), { recursive: true, force: true });
    }
  }
  return seeded;
}

/**
 * After a synth: stores the bundles its assembly uses that the cache lacks (copied beside, then renamed into place:
 * a reader sees a bundle whole or not at all), marks the others used, removes cached bundles unused for an hour, and
 * removes from `outdir` the seeded bundles the assembly does not use.
 */
export function keepAssets(outdir: string, cacheDir: string = ASSET_CACHE_DIR): { stored: number } {
  const used = referencedAssets(outdir);
  mkdirSync(cacheDir, { recursive: true });
  let stored = 0;
  const now = new Date();
  for (const name of used) {
    const target = join(cacheDir, name);
    try {
      utimesSync(target, now, now); // there: marked used
      continue;
    } catch {
      // not there (or being removed): stored below
    }
    const partial = join(cacheDir, `partial.${process.pid}.${name}`);
    try {
      cpSync(join(outdir, name), partial, { recursive: true });
      renameSync(partial, target);
      stored++;
    } catch {
      // Another synth stored the same bundle first, or the copy failed (a full disk): the synth itself succeeded,
      // and a bundle not kept is only built again next time.
      rmSync(partial, { recursive: true, force: true });
    }
  }
  for (const name of readdirSync(cacheDir).filter((n) => (isAssetDir(n) && !used.has(n)) || isLeftover(n))) {
    if (Date.now() - statSync(join(cacheDir, name)).mtimeMs > UNUSED_MS) removeWhole(join(cacheDir, name));
  }
  for (const name of readdirSync(outdir).filter((n) => isAssetDir(n) && !used.has(n)))
    rmSync(join(outdir, name), { recursive: true, force: true });
  return { stored };
}

/** Renamed out of the cache first, so a seeding copy finds it whole or not at all, then deleted. */
function removeWhole(dir: string): void {
  const doomed = `${dir}.removing.${process.pid}`;
  try {
    renameSync(dir, doomed);
  } catch {
    return; // already gone
  }
  rmSync(doomed, { recursive: true, force: true });
}
