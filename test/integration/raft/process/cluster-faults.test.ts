import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { expectReplicasHoldAcknowledged, startOrderLoad } from './order-load';
import { sleep } from '../../../../shared/util/wait';
import { suiteDataDir } from '../support/suite';

/**
 * Issue 2, "How it is proved" 3: three real node processes under concurrent clients (some order ids
 * repeated) survive kill -9 of the leader and its restart, a SIGSTOP/SIGCONT of the leader, and a fourth
 * node joining by snapshot. Afterwards every replica's durable ledger holds every acknowledged order
 * exactly once with the same seq, and the seqs are 1..N with no gaps.
 */

jest.setTimeout(90_000);

describe('three-node cluster under process faults', () => {
  let cluster: RaftCluster;
  // Owned by the test, not the harness: the harness deletes a data dir it created when it stops, and the
  // replicas' durable logs are read after the nodes have stopped.
  const dataDir = suiteDataDir('raft-faults-', () => cluster?.stop());

  test('acknowledged orders survive kill -9, SIGSTOP and a snapshot join, exactly once with gap-free seqs', async () => {
    cluster = await startRaftCluster({ dir: dataDir, env: { RAFT_SNAPSHOT_THRESHOLD: '50' } });
    const load = startOrderLoad(cluster.httpUrls);
    await sleep(1_500);

    const firstLeader = await cluster.leaderId();
    await cluster.kill(firstLeader, 'SIGKILL');
    await sleep(1_500);
    await cluster.restart(firstLeader);
    await sleep(1_500);

    const secondLeader = await cluster.leaderId();
    await cluster.kill(secondLeader, 'SIGSTOP');
    await sleep(2_000);
    await cluster.kill(secondLeader, 'SIGCONT');
    await sleep(1_500);

    await load.stop();
    expect(load.acked.size).toBeGreaterThan(50);
    expect(load.mismatches).toEqual([]);

    // A fourth node joins; the log has been compacted past its start, so it catches up by snapshot.
    const fourth = await cluster.addNode();
    await cluster.waitConverged(20_000);
    const st = await cluster.status(fourth.id);
    expect(st.snapshotIndex).toBeGreaterThan(1);
    expect(st.members.filter((m) => m.voter).map((m) => m.id)).toHaveLength(4);

    // No node may have died on its own along the way (a crash would also freeze its durable state).
    expect(cluster.nodes.map((n) => [n.id, n.process?.exitCode, n.process?.signalCode])).toEqual(
      cluster.nodes.map((n) => [n.id, null, null]),
    );
    const nodes = cluster.nodes.map((n) => ({ id: n.id, dataDir: n.dataDir }));
    const clusterCommit = (await cluster.status(fourth.id)).commitIndex;
    await cluster.stop();

    const recorded = expectReplicasHoldAcknowledged(nodes, load.acked, clusterCommit);
    process.stdout.write(
      `cluster-faults: ${load.acked.size} acknowledged, ${recorded} recorded, ${load.failures()} client give-ups\n`,
    );
  });
});
