import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referencedAssets } from '../../../local-cloud/deploy/asset-cache';
import { synthesize } from '../../../local-cloud/deploy/synth';
import { embeddedContext } from '../../../local-cloud/stack';
import { FUNCTION_NAMES } from '../../../infra/constructs/pipeline-function';

/**
 * PipelineStack synthesized twice with one bundle cache (its own, not the repository's): the second synth takes the
 * bundles from the cache instead of running esbuild — a mark written into a cached bundle shows up in its assembly —
 * and its template is the first one's.
 */
describe('the embedded cloud’s synth reuses function bundles of the same sources', () => {
  const base = mkdtempSync(join(tmpdir(), 'synth-cache-'));
  const cache = join(base, 'cache');
  const context = embeddedContext({
    raftMembers: 'http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3',
    raftAuthSecret: 'a-secret-of-16-or-more-characters',
    feedEnabled: 'false',
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('builds each bundle once', async () => {
    const first = join(base, 'first');
    await synthesize({ outdir: first, context, assetCache: cache });
    const bundles = referencedAssets(first);
    // One bundle per function at least.
    expect(bundles.size).toBeGreaterThanOrEqual(FUNCTION_NAMES.length);
    expect(new Set(readdirSync(cache))).toEqual(bundles);

    const [marked] = [...bundles];
    appendFileSync(join(cache, marked!, 'index.js'), '\n// from the cache\n');
    const second = join(base, 'second');
    await synthesize({ outdir: second, context, assetCache: cache });
    expect(referencedAssets(second)).toEqual(bundles);
    expect(readFileSync(join(second, marked!, 'index.js'), 'utf8')).toMatch(/\/\/ from the cache\n$/);
    const template = (dir: string) => readFileSync(join(dir, 'PipelineStack.template.json'), 'utf8');
    expect(template(second)).toBe(template(first));
    expect(readdirSync(second).filter((n) => n.startsWith('asset.'))).toHaveLength(bundles.size);
  }, 240_000);
});
