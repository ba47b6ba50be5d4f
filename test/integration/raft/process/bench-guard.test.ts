import { createLedgerClient } from '../../../../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { formatPhase, ledgerTarget, measure } from '../../../../tools/bench-raft';

/**
 * CI's bench step: a short `npm run bench:raft` phase (the same closed-loop measure(), three real nodes, fsync on,
 * the client library over the binary protocol; no etcd) that fails only on a large regression. The floors are a
 * tenth or less of what a loaded 2-core machine measures (docs/performance.md: ~1,300–5,700 writes/s at 16–256
 * clients, p99 at 16 clients ~30–80 ms), so a busy CI runner passes and a protocol or pipeline that broke down does not.
 */

jest.setTimeout(120_000);

const FLOORS = [
  { clients: 16, minWritesPerSecond: 100, maxP99Ms: 1_500 },
  { clients: 64, minWritesPerSecond: 150, maxP99Ms: 3_000 },
];

describe('bench:raft guard', () => {
  let cluster: RaftCluster;

  beforeAll(async () => {
    cluster = await startRaftCluster({ env: { LOG_LEVEL: 'warn' } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test.each(FLOORS)(
    '$clients clients: at least $minWritesPerSecond writes/s, p99 under $maxP99Ms ms',
    async (floor) => {
      const leader = await cluster.leaderUrl();
      const client = createLedgerClient({ members: [leader, ...cluster.httpUrls.filter((u) => u !== leader)] });
      try {
        const result = await measure(ledgerTarget(client, 1), 3, floor.clients);
        console.log(formatPhase(result));
        expect(result.writesPerSecond).toBeGreaterThanOrEqual(floor.minWritesPerSecond);
        expect(result.p99).toBeLessThanOrEqual(floor.maxP99Ms);
      } finally {
        client.close();
      }
    },
  );
});
