import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepAssets, referencedAssets, seedAssets } from '../../../local-cloud/deploy/asset-cache';

const name = (c: string) => `asset.${c.repeat(64)}`;

/** An assembly folder whose manifest names `used` (and its template, which is no bundle), holding `present`. */
function assembly(dir: string, used: string[], present: string[]): void {
  mkdirSync(dir, { recursive: true });
  const files = Object.fromEntries([
    ...used.map((n) => [n.slice(6), { source: { path: n, packaging: 'zip' } }]),
    ['t', { source: { path: 'Stack.template.json', packaging: 'file' } }],
  ]);
  writeFileSync(join(dir, 'Stack.assets.json'), JSON.stringify({ files }));
  for (const n of present) bundle(dir, n, `built ${n}`);
}

function bundle(dir: string, n: string, code: string): void {
  mkdirSync(join(dir, n), { recursive: true });
  writeFileSync(join(dir, n, 'index.js'), code);
  writeFileSync(join(dir, n, 'index.js.map'), '{}');
}

describe('the embedded cloud’s cache of function bundles', () => {
  let base: string;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'asset-cache-'));
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('stores the bundles an assembly uses, whole, and seeds the next output folder with them', () => {
    const cache = join(base, 'cache');
    const first = join(base, 'first');
    assembly(first, [name('a'), name('b')], [name('a'), name('b')]);
    expect(referencedAssets(first)).toEqual(new Set([name('a'), name('b')]));
    expect(keepAssets(first, cache)).toEqual({ stored: 2 });
    expect(readdirSync(cache).sort()).toEqual([name('a'), name('b')]);

    const next = join(base, 'next');
    expect(seedAssets(next, cache)).toBe(2);
    expect(readFileSync(join(next, name('a'), 'index.js'), 'utf8')).toBe(`built ${name('a')}`);
    expect(readFileSync(join(next, name('b'), 'index.js.map'), 'utf8')).toBe('{}');
  });

  it('after a synth, leaves in the output folder only the bundles its assembly uses', () => {
    const cache = join(base, 'cache');
    bundle(cache, name('a'), 'old sources');
    bundle(cache, name('c'), 'current');
    const out = join(base, 'out');
    seedAssets(out, cache);
    // The synth used c (seeded) and built d (new sources); a was seeded for nothing.
    assembly(out, [name('c'), name('d')], [name('d')]);
    expect(keepAssets(out, cache)).toEqual({ stored: 1 });
    expect(
      readdirSync(out)
        .filter((n) => n.startsWith('asset.'))
        .sort(),
    ).toEqual([name('c'), name('d')]);
    // a was used within the hour (it was just written): kept for a synth of those sources running beside this one.
    expect(readdirSync(cache).sort()).toEqual([name('a'), name('c'), name('d')]);
  });

  it('removes cached bundles no synth used for an hour, and what a cut-short store left', () => {
    const cache = join(base, 'cache');
    bundle(cache, name('a'), 'old sources');
    const longAgo = new Date(Date.now() - 61 * 60_000);
    utimesSync(join(cache, name('a')), longAgo, longAgo);
    bundle(cache, name('c'), 'current');
    utimesSync(join(cache, name('c')), longAgo, longAgo);
    const out = join(base, 'out');
    assembly(out, [name('c')], [name('c')]);
    bundle(cache, `partial.999.${name('e')}`, 'a store cut short');
    utimesSync(join(cache, `partial.999.${name('e')}`), longAgo, longAgo);
    keepAssets(out, cache);
    expect(readdirSync(cache)).toEqual([name('c')]); // c used now: its hour starts again
    keepAssets(out, cache);
    expect(existsSync(join(cache, name('c')))).toBe(true);
  });

  it('seeds nothing, and fails nothing, without a cache', () => {
    expect(seedAssets(join(base, 'out'), join(base, 'none'))).toBe(0);
    expect(existsSync(join(base, 'out'))).toBe(false);
  });
});
