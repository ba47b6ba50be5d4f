import { readFileSync } from 'node:fs';

/**
 * Refuses an emulator package that `patch-package` has not patched (npm's postinstall applies patches/), naming the
 * fix: `file` is one of the package's files the patch changes, `marker` a piece of text only the patch puts there.
 */
export function assertPatched(pkg: string, patch: string, file: string, marker: string): void {
  if (!readFileSync(file, 'utf8').includes(marker)) {
    throw new Error(
      `node_modules/${pkg} is not patched: run \`npm install\` (its postinstall applies patches/${patch}) or \`npx patch-package\``,
    );
  }
}
