import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OrderResult } from '../../../../shared/domain/order';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { sleep } from '../../../../shared/util/wait';
import { expectReplicasHoldAcknowledged, startOrderLoad } from './order-load';

/**
 * Issue 12, bounded memory: the ledger's order history lives in each node's on-disk store (ledger.db), committed with
 * the applied index once per applied batch. Real node processes prove that a restart resumes from the store (every
 * order kept, a repeat answered DUPLICATE with the stored result), that kill -9 at random points under load (between a
 * store commit and the log, during background snapshots) loses and doubles nothing, and that the leader's RSS stays
 * flat as orders grow.
 */

jest.setTimeout(180_000);

function batchOf(first: number, count: number, prefix: string) {
  return Array.from({ length: count }, (_, k) => ({
    orderId: `${prefix}-${first + k}`,
    account: `acct-${(first + k) % 13}`,
    symbol: (first + k) % 2 ? 'AAPL' : 'MSFT',
    side: (first + k) % 3 === 0 ? 'SELL' : 'BUY',
    quantity: 1 + ((first + k) % 7),
    price: 10,
  }));
}

async function placeBatch(url: string, orders: unknown[]): Promise<OrderResult[]> {
  const res = await fetch(`${url}/v1/orders/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ orders }),
  });
  if (res.status !== 200) throw new Error(`batch answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { results: OrderResult[] }).results;
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round(kb / 1024);
}

describe('the ledger on its on-disk order store', () => {
  let cluster: RaftCluster | undefined;
  const dirs: string[] = [];
  const newDir = (name: string) => {
    const dir = mkdtempSync(join(tmpdir(), `raft-store-${name}-`));
    dirs.push(dir);
    return dir;
  };
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });
  afterAll(() => {
    if (!process.env.RAFT_CLUSTER_KEEP_DATA) dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  test('a restart of the whole cluster keeps every order and answers repeats DUPLICATE with the stored result', async () => {
    const dir = newDir('restart');
    cluster = await startRaftCluster({ dir, env: { RAFT_SNAPSHOT_THRESHOLD: '20' } });
    const first = new Map<string, OrderResult>();
    for (let i = 0; i < 3_000; i += 100) {
      for (const r of await placeBatch(await cluster.leaderUrl(), batchOf(i, 100, 'restart'))) first.set(r.orderId, r);
    }
    await cluster.stop();
    cluster = await startRaftCluster({ dir });
    const leader = await cluster.leaderId();
    const log = readFileSync(join(dir, `${leader}.log`), 'utf8');
    const recovered = log
      .split('\n')
      .filter((l) => l.includes('"storage recovered"'))
      .map((l) => JSON.parse(l) as { storeAppliedIndex: number; snapshotIndex: number })
      .at(-1)!;
    // Resumed from its store, which is past the last snapshot: the log is replayed only from there.
    expect(recovered.storeAppliedIndex).toBeGreaterThanOrEqual(30);
    for (let i = 0; i < 3_000; i += 100) {
      for (const r of await placeBatch(await cluster.leaderUrl(), batchOf(i, 100, 'restart'))) {
        expect(r).toEqual({ ...first.get(r.orderId), duplicate: true });
      }
    }
  });

  test('kill -9 of random nodes at random moments under load loses and doubles no acknowledged order', async () => {
    const dir = newDir('kill');
    cluster = await startRaftCluster({ dir, env: { RAFT_SNAPSHOT_THRESHOLD: '40' } });
    const load = startOrderLoad(cluster.httpUrls, 6);
    for (let round = 0; round < 6; round++) {
      await sleep(300 + Math.floor(Math.random() * 900));
      const victim = round % 2 === 0 ? await cluster.leaderId() : cluster.nodes[round % 3]!.id;
      await cluster.kill(victim, 'SIGKILL');
      await sleep(Math.floor(Math.random() * 400));
      await cluster.restart(victim);
    }
    await sleep(1_000);
    await load.stop();
    await cluster.waitConverged(60_000);
    expect(load.mismatches).toEqual([]);
    expect(load.acked.size).toBeGreaterThan(200);
    const commit = (await cluster.status(await cluster.leaderId())).commitIndex;
    const nodes = cluster.nodes.map((n) => ({ id: n.id, dataDir: n.dataDir }));
    await cluster.stop();
    cluster = undefined;
    expectReplicasHoldAcknowledged(nodes, load.acked, commit);
  });

  test('the leader RSS stays flat from 50 k to 200 k orders', async () => {
    const dir = newDir('rss');
    // A small store cache, so that its filling up (bounded by the setting, 32 MiB by default) is not what is measured.
    // A capped old space, so that V8 growing its heap lazily is not measured either: heap snapshots of a leader at
    // 100 k and 300 k orders held 25.9 and 25.5 MiB of live objects while its RSS read 170 and 260 MiB (a full GC took
    // it back to 182 and 185). A per-order leak on the heap ends the node at the cap; one outside it shows in RSS.
    cluster = await startRaftCluster({
      dir,
      env: { RAFT_SNAPSHOT_THRESHOLD: '100', RAFT_STORE_CACHE_MIB: '2' },
      nodeArgs: ['--max-old-space-size=96'],
    });
    const leader = await cluster.leader();
    // RSS after every batch; each 50 k window is summed up by its median, so that one sample taken at a GC's or an
    // allocator's peak (a single sample per point once read +31 MiB on a loaded CI machine, and -23 MiB on a quiet one)
    // does not decide the test.
    const rss: number[] = [];
    for (let i = 0; i < 200_000; i += 500) {
      await placeBatch(leader.httpUrl, batchOf(i, 500, 'rss'));
      rss.push(rssMiB(leader.process!.pid!));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const samples = [0, 1, 2, 3].map((w) => median(rss.slice(w * 100, (w + 1) * 100)));
    // Printed for docs/performance.md. The bound leaves room for GC and allocator timing, not for a per-order cost:
    // 150 k order results kept in memory (the ledger before its store) take about 30 MiB of heap alone.
    console.log(`leader RSS MiB, median over each 50 k orders (0-50k/…/150-200k): ${samples.join(' ')}`);
    expect(samples[3]! - samples[1]!).toBeLessThan(25);
  });
});
