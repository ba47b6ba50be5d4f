import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { LEDGER_DB_FILE, removeStoreFiles, SNAPSHOT_FILE } from '../../../raft-node/src/storage';
import { waitFor } from '../../../shared/util/wait';
import { durableLedger } from '../raft/process/durable-ledger';
import { suiteDataDir } from '../raft/support/suite';

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

    for (let first = 0; first < ORDERS; first += 50) {
      const orders = Array.from({ length: 50 }, (_, k) => ({
        orderId: `snap-${first + k}`,
        account: `acct-${(first + k) % 11}`,
        symbol: 'ACME',
        side: (first + k) % 2 === 0 ? 'BUY' : 'SELL',
        quantity: 1 + ((first + k) % 9),
        price: 10,
      }));
      // A leadership change on a loaded machine answers 503: the same batch again is exactly-once (deduped).
      let res: Response;
      for (let attempt = 0; ; attempt++) {
        res = await fetch(`${await cluster.leaderUrl()}/v1/orders/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ orders }),
        });
        if (res.status !== 503 || attempt === 10) break;
        await sleep(200);
      }
      expect(res.status).toBe(200);
    }
    // Snapshots are taken in the background: wait for one past the first 20 entries.
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(100)) {
      if ((await cluster.status(await cluster.leaderId())).snapshotIndex >= 20) break;
    }
    expect((await cluster.status(await cluster.leaderId())).snapshotIndex).toBeGreaterThanOrEqual(20);
    const leaderId = await cluster.leaderId();
    const follower = cluster.nodes.find((n) => n.id !== leaderId)!.id;

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
    // The leader's own snapshot is only a compaction point (its store is the state, synced before the log was
    // compacted): what the follower got is a copy of the store made for it.
    expect(leaderLog).toMatch(/"copied the store for followers"/);
    expect(statSync(join(cluster.node(leaderId).dataDir, SNAPSHOT_FILE)).size).toBeLessThan(4096);

    const commit = (await cluster.status(leaderId)).commitIndex;

    // A node whose store is lost after its log was compacted cannot mend it from its own disk: it refuses to start
    // (exit 2, an operator must act), naming the problem and the way out, instead of running with orders missing.
    const third = cluster.nodes.find((n) => n.id !== leaderId && n.id !== follower)!;
    await cluster.kill(third.id);
    removeStoreFiles(join(third.dataDir, LEDGER_DB_FILE));
    const exited = new Promise<number | null>((resolve) => {
      cluster.spawn(third);
      // 'close', not 'exit': only then has its last output left the pipes for the log.
      third.process!.once('close', resolve);
    });
    expect(await exited).toBe(2);
    const refusal = /is at index 0, behind the log's compaction point \d+ .*the order store was lost or rolled back/;
    const thirdLog = () => readFileSync(join(dataDir, `${third.id}.log`), 'utf8');
    // The log file is written by this process's stream, a moment after the pipe delivered the line.
    await waitFor('the refusal in its log', 5_000, () => refusal.test(thirdLog()), { intervalMs: 50 }).catch(
      () => undefined,
    );
    expect(thirdLog()).toMatch(refusal);

    const nodes = cluster.nodes.filter((n) => n !== third).map((n) => ({ id: n.id, dataDir: n.dataDir }));
    await cluster.stop();
    const states = nodes.map((n) => durableLedger(n.dataDir, commit));
    expect(states).toHaveLength(2);
    for (const state of states) {
      expect(state.orders.size).toBe(ORDERS);
      expect([...state.orders.values()]).toEqual([...states[0]!.orders.values()]);
    }
  });
});
