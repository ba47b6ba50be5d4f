import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BUNDLE_INPUTS, bundleAssetHash, bundleSourceHash } from '../../../infra/constructs/bundle-hash';

/** A throwaway root holding each BUNDLE_INPUTS entry (a folder with one source, or the file itself). */
function fakeRoot(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'bundle-hash-'));
  for (const entry of BUNDLE_INPUTS) {
    if (entry.includes('.')) writeFileSync(path.join(root, entry), '{}');
    else {
      mkdirSync(path.join(root, entry), { recursive: true });
      writeFileSync(path.join(root, entry, 'a.ts'), 'export const a = 1;');
    }
  }
  return root;
}

describe('function bundles: the asset hash known before bundling', () => {
  const roots: string[] = [];
  afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  const root = () => {
    const r = fakeRoot();
    roots.push(r);
    return r;
  };

  it('changes with any source: an edit, a new file, the lock file; not with nothing', () => {
    const a = root();
    const b = root();
    expect(bundleSourceHash(a)).toBe(bundleSourceHash(b));
    const edited = root();
    writeFileSync(path.join(edited, 'shared/a.ts'), 'export const a = 2;');
    const added = root();
    writeFileSync(path.join(added, 'functions/b.ts'), '');
    const locked = root();
    writeFileSync(path.join(locked, 'package-lock.json'), '{"lockfileVersion":3}');
    const digests = [a, edited, added, locked].map((r) => bundleSourceHash(r));
    expect(new Set(digests).size).toBe(4);
  });

  it('differs per entry over the same sources', () => {
    const r = root();
    expect(bundleAssetHash(path.join(r, 'functions/a.ts'), r)).not.toBe(
      bundleAssetHash(path.join(r, 'shared/a.ts'), r),
    );
    expect(bundleAssetHash(path.join(r, 'functions/a.ts'), r)).toMatch(/^[0-9a-f]{64}$/);
  });
});
