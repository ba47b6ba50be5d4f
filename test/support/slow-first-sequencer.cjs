const Sequencer = require('@jest/test-sequencer').default;

/**
 * Starts the longest suites first, so that the two workers finish together instead of one running the longest
 * suite alone at the end. Jest orders by the durations it cached in earlier runs, which a fresh clone (CI) does not
 * have; it then falls back to file size, which put `chaos.test.ts` (~5 min, the longest) last in a CI run: 313 s of
 * one idle worker. The list holds the suites that each start a whole embedded stack (1.5–5 min in CI), longest
 * first, from a fresh-clone run's timings; order only, so a stale entry costs time, never a result.
 */
const SLOWEST = [
  'local-cloud/chaos.test.ts',
  'local-cloud/trading-api-e2e.test.ts',
  'local-cloud/cdk-deploy.test.ts',
  'live-delivery/e2e.test.ts',
  'console/console.test.ts',
  'local-cloud/bench-guard.test.ts',
  'local-cloud/targets.test.ts',
  'local-cloud/targets-embedded.test.ts',
  'local-cloud/e2e.test.ts',
  'tools/lifecycle-stack.test.ts',
];

function rank(path) {
  const i = SLOWEST.findIndex((suffix) => path.endsWith(suffix));
  return i === -1 ? SLOWEST.length : i;
}

class SlowFirstSequencer extends Sequencer {
  sort(tests) {
    // Jest's own order (cached durations, then size) within each rank; Array.prototype.sort is stable.
    return super.sort(tests).sort((a, b) => rank(a.path) - rank(b.path));
  }
}

module.exports = SlowFirstSequencer;
