import { readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const TEST_ROOT = resolve(__dirname, '..');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(TEST_ROOT, path)] : [];
  });
}

describe('test layout', () => {
  it('puts every test file in a jest project (test/unit or test/integration), so none is silently skipped', () => {
    const outside = testFiles(TEST_ROOT).filter((f) => !f.startsWith('unit/') && !f.startsWith('integration/'));
    expect(outside).toEqual([]);
  });
});
