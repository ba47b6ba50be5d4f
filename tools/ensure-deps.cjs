#!/usr/bin/env node
// Runs before `npm start` and `npm test` so both work from a fresh clone: installs the locked
// dependencies when node_modules is missing or older than package-lock.json. Plain CommonJS with no
// dependencies, because it runs before anything is installed.
const { existsSync, statSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');

const upToDate = existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs;
if (!upToDate) {
  // `npm ci`: exactly the locked versions, never a rewrite of package-lock.json. It empties node_modules
  // first (including node_modules/.cache, so DynamoDB Local is fetched again on the next emulator start).
  console.error('[setup] installing the locked dependencies (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[setup] npm ci failed; see the output above');
    process.exit(result.status ?? 1);
  }
}
