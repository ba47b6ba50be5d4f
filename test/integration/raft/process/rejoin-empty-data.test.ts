import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { expectReplicasHoldAcknowledged, startOrderLoad } from './order-load';
import { sleep } from '../../../../shared/util/wait';
import { suiteDataDir } from '../support/suite';

/**
 * Issue "Ledger cluster safety", finding 2: the bootstrap node (RAFT_INITIAL_CLUSTER_STATE=new) loses its data
 * dir under client load and starts again with the same environment — once at its old address, once at a new one
 * (a replaced ECS task). It must not form a second cluster: it finds its peers in the cluster, is replaced as a
 * new incarnation (remove, add as learner, snapshot, promote), and no acknowledged order is lost or given a seq
 * another order has.
 */

jest.setTimeout(120_000);

describe('a node whose data dir was wiped rejoins instead of bootstrapping', () => {
  let cluster: RaftCluster;
  const dataDir = suiteDataDir('raft-rejoin-', () => cluster?.stop());

  /** Waits until `id` is a voter again in the leader's view and has applied what the leader committed. */
  const waitRejoined = async (id: string) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const leader = await cluster.status(await cluster.leaderId()).catch(() => undefined);
      const own = await cluster.status(id).catch(() => undefined);
      if (leader?.members.some((m) => m.id === id && m.voter) && own && own.appliedIndex >= leader.commitIndex) return;
      if (Date.now() > deadline) throw new Error(`${id} did not rejoin: ${JSON.stringify({ leader, own })}`);
      await sleep(100);
    }
  };

  const identity = (id: string) =>
    JSON.parse(readFileSync(join(cluster.node(id).dataDir, 'identity.json'), 'utf8')) as {
      incarnation: string;
      clusterId: string;
    };
  const incarnation = (id: string) => identity(id).incarnation;

  test('under load, at its old address and then at a new one: no acknowledged order lost, no seq given twice', async () => {
    cluster = await startRaftCluster({ dir: dataDir, env: { RAFT_SNAPSHOT_THRESHOLD: '200' } });
    expect(cluster.node('n1').env.RAFT_INITIAL_CLUSTER_STATE).toBe('new');
    const clusterId = identity('n1').clusterId;
    const load = startOrderLoad(cluster.httpUrls);
    await sleep(2_000);

    const first = incarnation('n1');
    await cluster.wipeAndRestart('n1');
    await waitRejoined('n1');
    const second = incarnation('n1');
    expect(second).not.toBe(first);
    const afterOld = load.acked.size;
    await sleep(1_500);

    const oldUrl = cluster.node('n1').httpUrl;
    await cluster.wipeAndRestart('n1', { newAddress: true });
    expect(cluster.node('n1').httpUrl).not.toBe(oldUrl);
    await waitRejoined('n1');
    expect(incarnation('n1')).not.toBe(second);
    await sleep(1_500);

    await load.stop();
    expect(load.acked.size).toBeGreaterThan(afterOld);
    expect(load.mismatches).toEqual([]);
    await cluster.waitConverged(20_000);

    // One cluster throughout: the rejoined node kept the cluster id, and every node agrees on the three voters,
    // n1 at its new address.
    expect(cluster.nodes.map((n) => identity(n.id).clusterId)).toEqual([clusterId, clusterId, clusterId]);
    for (const n of cluster.nodes) {
      const st = await cluster.status(n.id);
      expect(st.members.map((m) => [m.id, m.voter])).toEqual([
        ['n1', true],
        ['n2', true],
        ['n3', true],
      ]);
      expect(st.members.find((m) => m.id === 'n1')?.httpUrl).toBe(cluster.node('n1').httpUrl);
    }
    const log = readFileSync(join(dataDir, 'n1.log'), 'utf8');
    expect(log.match(/bootstrapped a new cluster/g)).toHaveLength(1); // the first start only
    expect(log.match(/joined the cluster as a learner/g)).toHaveLength(2);

    expect(cluster.nodes.map((n) => [n.id, n.process?.exitCode, n.process?.signalCode])).toEqual(
      cluster.nodes.map((n) => [n.id, null, null]),
    );
    const nodes = cluster.nodes.map((n) => ({ id: n.id, dataDir: n.dataDir }));
    const clusterCommit = (await cluster.status('n2')).commitIndex;
    await cluster.stop();
    const recorded = expectReplicasHoldAcknowledged(nodes, load.acked, clusterCommit);
    process.stdout.write(
      `rejoin: ${load.acked.size} acknowledged, ${recorded} recorded, ${load.failures()} client give-ups\n`,
    );
  });
});
