import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

/**
 * package.json names every package the code imports, and nothing it does not: product code (functions/, console/src/,
 * shared/, raft-node/src/) only uses `dependencies`; tooling and tests may use `devDependencies` too.
 */
const ROOT = join(__dirname, '..', '..');
const PRODUCT = /^(functions|shared|raft-node\/src|console\/src)\//;
const SKIP = new Set(['node_modules', '.git', 'cdk.out', '.data', 'coverage']);
// Used by name rather than by import: CLIs in scripts (jest, cdk, cdklocal, eslint, prettier, tsc, tsx), type packages, jest's transformer and its peer, the
// fauxqs CLI started by path (local-cloud/emulators/sqs.ts), tsx loaded with --import in function workers,
// patch-package run by the postinstall script (patches/).
const NOT_IMPORTED = [
  '@swc/core',
  '@swc/jest',
  '@types/aws-lambda',
  '@types/better-sqlite3',
  '@types/jest',
  '@types/node',
  '@types/ws',
  'aws-cdk',
  'aws-cdk-local',
  'eslint',
  'fauxqs',
  'jest',
  'patch-package',
  'prettier',
  'tsx',
  'typescript',
];
const SPECIFIER = /(?:^|[\s;(])(?:from|import|require(?:\.resolve)?)\s*\(?\s*(['"])([@\w][\w@/.-]*)\1/gm;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIP.has(entry.name)) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|cjs|mjs|js)$/.test(entry.name) ? [path] : [];
  });
}

/** Package name → the repository files importing it. `aws-lambda` is types only (@types/aws-lambda). */
function importedPackages(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sourceFiles(ROOT)) {
    for (const [, , specifier = ''] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const parts = specifier.split('/');
      const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
      if (specifier.startsWith('node:') || builtinModules.includes(name)) continue;
      const pkg = name === 'aws-lambda' ? '@types/aws-lambda' : name;
      found.set(pkg, [...(found.get(pkg) ?? []), relative(ROOT, file)]);
    }
  }
  return found;
}

describe('package.json dependencies', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  const dependencies = Object.keys(manifest.dependencies ?? {});
  const devDependencies = Object.keys(manifest.devDependencies ?? {});
  const imported = importedPackages();

  it('declares every imported package, product imports in dependencies', () => {
    const problems = [...imported].flatMap(([pkg, files]) => {
      const product = files.filter((file) => PRODUCT.test(file));
      // Type packages are erased at build time, so product code may take them from devDependencies.
      if (product.length > 0 && !dependencies.includes(pkg) && !pkg.startsWith('@types/'))
        return [`${pkg} (product: ${product[0]}) not in dependencies`];
      if (!dependencies.includes(pkg) && !devDependencies.includes(pkg)) return [`${pkg} (${files[0]}) not declared`];
      return [];
    });
    expect(problems).toEqual([]);
  });

  it('declares nothing unused, and dependencies only what product code imports', () => {
    const unused = [...dependencies, ...devDependencies].filter((p) => !imported.has(p) && !NOT_IMPORTED.includes(p));
    const toolingOnly = dependencies.filter((p) => !(imported.get(p) ?? []).some((file) => PRODUCT.test(file)));
    expect({ unused, toolingOnly }).toEqual({ unused: [], toolingOnly: [] });
  });

  it('pins exact versions', () => {
    const ranges = Object.entries({ ...manifest.dependencies, ...manifest.devDependencies }).filter(
      ([, version]) => !/^\d+\.\d+\.\d+$/.test(version),
    );
    expect(ranges).toEqual([]);
  });
});
