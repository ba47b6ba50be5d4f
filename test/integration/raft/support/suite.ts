import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Order } from '../../../../shared/domain/order';
import { startRaftCluster, type RaftCluster, type RaftClusterOptions } from '../../../../local-cloud/raft-cluster';

/**
 * A data dir the suite owns rather than the cluster harness (the harness deletes a dir it created when it stops,
 * and these suites read the replicas' files after their nodes stopped, or start a cluster in it more than once).
 * After the suite: `stop()` (the suite's cluster, if started), then the dir is removed, unless
 * RAFT_CLUSTER_KEEP_DATA is set (to look at it after a failure).
 */
export function suiteDataDir(prefix: string, stop: () => Promise<void> | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(async () => {
    await stop();
    if (!process.env.RAFT_CLUSTER_KEEP_DATA) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** A valid order for the ledger tests: a BUY of 1 AAPL at 10 for `acct`, with whatever the test changes. */
export const testOrder = (orderId: string, overrides: Partial<Order> = {}): Order => ({
  orderId,
  account: 'acct',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 1,
  price: 10,
  ...overrides,
});

/**
 * A real cluster for the enclosing describe block: started before its tests and handed to `ready` (which keeps it,
 * and finds what the tests need, e.g. the leader), stopped after them.
 */
export function clusterForSuite(
  options: RaftClusterOptions,
  ready: (cluster: RaftCluster) => void | Promise<void>,
): void {
  let cluster: RaftCluster | undefined;
  beforeAll(async () => {
    cluster = await startRaftCluster(options);
    await ready(cluster);
  });
  afterAll(async () => {
    await cluster?.stop();
  });
}
