import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { durableLedger } from './durable-ledger';
import { suiteDataDir } from '../support/suite';

/**
 * Issue "Ledger cluster safety", finding 4: snapshots are streamed. A follower that lost its data dir after the
 * leader compacted its log catches up through an InstallSnapshot of many chunks (RAFT_SNAPSHOT_CHUNK_BYTES lowered so a
 * small ledger needs many), over real TCP between real node processes, and ends with the same ledger.
 */

jest.setTimeout(120_000);

const ORDERS = 1_500;

describe('a follower behind the leader snapshot catches up through a chunked InstallSnapshot', () => {
  let cluster: RaftCluster;
  const dataDir = suiteDataDir('raft-snapshot-install-', () => cluster?.stop());

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const waitVoter = async (id: string) => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(100)) {
      const leader = await cluster.status(await cluster.leaderId()).catch(() => undefined);
      if (leader?.members.some((m) => m.id === id && m.voter)) return;
    }
    throw new Error(`${id} did not become a voter again`);
  };

  test('wiped follower, many orders: multi-chunk transfer and identical state', async () => {
    cluster = await startRaftCluster({
      dir: dataDir,
      env: { RAFT_SNAPSHOT_THRESHOLD: '10', RAFT_SNAPSHOT_CHUNK_BYTES: '4096' },
    });
    const leaderId = await cluster.leaderId();
    const follower = cluster.nodes.find((n) => n.id !== leaderId)!.id;

    const leaderUrl = await cluster.leaderUrl();
    for (let first = 0; first < ORDERS; first += 50) {
      const orders = Array.from({ length: 50 }, (_, k) => ({
        orderId: `snap-${first + k}`,
        account: `acct-${(first + k) % 11}`,
        symbol: 'ACME',
        side: (first + k) % 2 === 0 ? 'BUY' : 'SELL',
        quantity: 1 + ((first + k) % 9),
        price: 10,
      }));
      const res = await fetch(`${leaderUrl}/v1/orders/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orders }),
      });
      expect(res.status).toBe(200);
    }
    expect((await cluster.status(leaderId)).snapshotIndex).toBeGreaterThanOrEqual(20);

    // A lost volume: the node rejoins as a new incarnation and can only catch up from the leader's snapshot (a
    // plain restart may be caught up by appends the transport still had queued for it).
    await cluster.wipeAndRestart(follower);
    await waitVoter(follower);
    await cluster.waitConverged(60_000);

    const leaderLog = readFileSync(join(dataDir, `${leaderId}.log`), 'utf8');
    const sent = leaderLog
      .split('\n')
      .filter((l) => l.includes('"snapshot sent"') && l.includes(`"to":"${follower}"`))
      .map((l) => JSON.parse(l) as { bytes: number });
    expect(sent.length).toBeGreaterThan(0);
    // Far more than one chunk of 4 KiB.
    expect(Math.max(...sent.map((s) => s.bytes)) / 4096).toBeGreaterThan(20);
    const followerLog = readFileSync(join(dataDir, `${follower}.log`), 'utf8');
    expect(followerLog).toMatch(/"received snapshot"/);
    expect(followerLog).toMatch(/"installed snapshot"/);

    const commit = (await cluster.status(leaderId)).commitIndex;
    const nodes = cluster.nodes.map((n) => ({ id: n.id, dataDir: n.dataDir }));
    await cluster.stop();
    const states = nodes.map((n) => durableLedger(n.dataDir, commit));
    for (const state of states) {
      expect(state.orders.size).toBe(ORDERS);
      expect([...state.orders.values()]).toEqual([...states[0]!.orders.values()]);
    }
  });
});
