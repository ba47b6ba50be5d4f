import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { SNAPSHOT_FILE } from '../../../../raft-node/src/storage';
import { createLedgerClient } from '../../../../shared/raft-client/client';
import { sleep, waitFor } from '../../../../shared/util/wait';
import { durableLedger } from './durable-ledger';
import { suiteDataDir, testOrder } from '../support/suite';

/**
 * A wiped follower catches up by a copy of the leader's store while writes keep coming, the leader compacting its
 * log every 10 entries. The copy goes over a deliberately slow transfer (4 KiB chunks, one in flight), so the log
 * moves far past the copy's index before the follower has installed it: without the leader holding its compaction
 * at the copy's index while the follower is in the snapshot state (node.ts, compactionLimit), every copy would be
 * overtaken and the follower would never catch up while the load lasts.
 */

jest.setTimeout(120_000);

describe('catch-up by snapshot under a steady write load', () => {
  let cluster: RaftCluster;
  const dataDir = suiteDataDir('raft-catch-up-load-', () => cluster?.stop());

  test('the follower becomes a voter again while the load runs, after one copy, and ends with the same ledger', async () => {
    cluster = await startRaftCluster({
      dir: dataDir,
      env: { RAFT_SNAPSHOT_THRESHOLD: '10', RAFT_SNAPSHOT_CHUNK_BYTES: '4096', RAFT_SNAPSHOT_CHUNKS_IN_FLIGHT: '1' },
    });
    const client = createLedgerClient({ members: cluster.httpUrls });
    try {
      // About 3 MB of store: hundreds of chunks, each waiting for its ack.
      for (let first = 0; first < 20_000; first += 500) {
        const orders = Array.from({ length: 500 }, (_, k) => testOrder(`fill-${first + k}`, { account: `a${k % 9}` }));
        await client.applyOrders(orders);
      }
      let loading = true;
      let sent = 0;
      const load = (async () => {
        while (loading) {
          const orders = Array.from({ length: 5 }, () => testOrder(`load-${sent++}`));
          await client.applyOrders(orders);
          await sleep(5);
        }
      })();

      const leaderId = await cluster.leaderId();
      const follower = cluster.nodes.find((n) => n.id !== leaderId)!.id;
      const leaderLog = () => readFileSync(join(dataDir, `${leaderId}.log`), 'utf8').split('\n');
      // The new incarnation is added as a learner and promoted once it has caught up with the leader's commit index.
      const promotions = () =>
        leaderLog().filter((l) => l.includes('"promoting caught-up learner"') && l.includes(`"memberId":"${follower}"`))
          .length;
      const promotedBefore = promotions();
      const copiesBefore = leaderLog().filter((l) => l.includes('"copied the store for followers"')).length;
      const compactionsBefore = leaderLog().filter((l) => l.includes('"compacted the log"')).length;
      await cluster.wipeAndRestart(follower);
      let voterAgain = false;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline && !voterAgain; await sleep(100)) {
        voterAgain = promotions() > promotedBefore;
      }
      const sentWhileCatchingUp = sent;
      loading = false;
      await load;
      expect(voterAgain).toBe(true);
      expect(sentWhileCatchingUp).toBeGreaterThan(100);

      const since = (lines: string[], before: number, what: string) =>
        lines.filter((l) => l.includes(`"${what}"`)).length - before;
      // The load went on (the leader kept compacting meanwhile) and one copy was enough.
      expect(since(leaderLog(), compactionsBefore, 'compacted the log')).toBeGreaterThan(5);
      expect(since(leaderLog(), copiesBefore, 'copied the store for followers')).toBe(1);

      await cluster.waitConverged(60_000);
      const commit = (await cluster.status(leaderId)).commitIndex;
      const dirs = [leaderId, follower].map((id) => cluster.node(id).dataDir);
      await cluster.stop();
      const [leader, caughtUp] = dirs.map((dir) => durableLedger(dir, commit));
      expect(caughtUp!.orders.size).toBe(20_000 + sent);
      expect([...caughtUp!.orders.values()]).toEqual([...leader!.orders.values()]);
    } finally {
      client.close();
    }
  });
});

describe('the copy a follower installed', () => {
  let cluster: RaftCluster;
  const dataDir = suiteDataDir('raft-installed-copy-', () => cluster?.stop());

  test('is replaced by a compaction point once the next entry is applied, with no order lost', async () => {
    cluster = await startRaftCluster({ dir: dataDir, env: { RAFT_SNAPSHOT_THRESHOLD: '1000' } });
    const client = createLedgerClient({ members: cluster.httpUrls });
    try {
      for (let first = 0; first < 5_000; first += 500) {
        await client.applyOrders(Array.from({ length: 500 }, (_, k) => testOrder(`fill-${first + k}`)));
      }
      const leaderId = await cluster.leaderId();
      const follower = cluster.nodes.find((n) => n.id !== leaderId)!.id;
      // So high that only the installed copy can be the reason for the follower's next compaction point.
      await cluster.wipeAndRestart(follower, { env: { RAFT_SNAPSHOT_THRESHOLD: '1000000' } });
      const snapshotFile = join(cluster.node(follower).dataDir, SNAPSHOT_FILE);
      const followerLog = () => readFileSync(join(dataDir, `${follower}.log`), 'utf8');
      await waitFor('the follower to install the copy', 30_000, () => followerLog().includes('"installed snapshot"'));
      // The copy (the whole store: hundreds of KB) is replaced as soon as an entry is applied after it — here the
      // leader's promotion of the new incarnation, or the writes below — by a compaction point of a few hundred bytes.
      // Without that, a follower this far below its threshold would keep the copy until a later compaction.
      await client.applyOrders(Array.from({ length: 10 }, (_, k) => testOrder(`after-${k}`)));
      const size = () => statSync(snapshotFile, { throwIfNoEntry: false })?.size ?? 0;
      await waitFor('a compaction point in place of the copy', 20_000, () => size() > 0 && size() < 4096);

      await cluster.waitConverged(30_000);
      const commit = (await cluster.status(leaderId)).commitIndex;
      const followerDir = cluster.node(follower).dataDir;
      await cluster.stop();
      expect(durableLedger(followerDir, commit).orders.size).toBe(5_010);
    } finally {
      client.close();
    }
  });
});
