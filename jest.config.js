/**
 * Two projects, chosen by folder:
 * - unit (test/unit/): pure functions, the Raft core, the simulation's first seeds, light CDK checks. No emulators,
 *   no child processes, no sockets, no fsync loops: `npm run test:unit` is the quick loop.
 * - integration (test/integration/): real emulators (started once by its globalSetup), real processes over real
 *   sockets, RaftStorage on disk, esbuild-bundling CDK synths, the rest of the simulation seeds.
 * Helpers shared by both live in test/support/. TypeScript is transformed by SWC (type checking is
 * `npm run typecheck`'s job); middy and jose are ESM-only, so they are transformed to CommonJS along with our sources.
 * @type {import('jest').Config}
 */
const shared = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|jose)/)'],
};

module.exports = {
  projects: [
    {
      ...shared,
      displayName: 'unit',
      roots: ['<rootDir>/test/unit'],
      // Each project's setup points TMPDIR at one folder for the run, deleted at its end (test/support/run-tmpdir.ts).
      globalSetup: '<rootDir>/test/unit/global-setup.ts',
      globalTeardown: '<rootDir>/test/unit/global-teardown.ts',
    },
    {
      ...shared,
      displayName: 'integration',
      roots: ['<rootDir>/test/integration'],
      // A project's globalSetup runs only when that project has tests in the run, so unit runs start no emulators.
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
  maxWorkers: 2,
  testSequencer: '<rootDir>/test/support/slow-first-sequencer.cjs',
  testTimeout: 30000,
};
