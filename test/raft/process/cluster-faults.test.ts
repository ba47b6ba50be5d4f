import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Order, OrderResult } from '../../../shared/domain/order';
import { createLedgerClient } from '../../../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../../support/raft-cluster';
import { durableLedger } from './durable-ledger';

/**
 * Issue 2, "How it is proved" 3: three real node processes under concurrent clients (some order ids
 * repeated) survive kill -9 of the leader and its restart, a SIGSTOP/SIGCONT of the leader, and a fourth
 * node joining by snapshot. Afterwards every replica's durable ledger holds every acknowledged order
 * exactly once with the same seq, and the seqs are 1..N with no gaps.
 */

jest.setTimeout(90_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('three-node cluster under process faults', () => {
  let cluster: RaftCluster;
  // Owned by the test, not the harness: the harness deletes a data dir it created when it stops, and the
  // replicas' durable logs are read after the nodes have stopped.
  const dataDir = mkdtempSync(join(tmpdir(), 'raft-faults-'));

  afterAll(async () => {
    await cluster?.stop();
    if (!process.env.RAFT_CLUSTER_KEEP_DATA) rmSync(dataDir, { recursive: true, force: true });
  });

  test('acknowledged orders survive kill -9, SIGSTOP and a snapshot join, exactly once with gap-free seqs', async () => {
    cluster = await startRaftCluster({ dataDir, env: { RAFT_SNAPSHOT_THRESHOLD: '50' } });
    const acked = new Map<string, OrderResult>();
    const sentIds: string[] = [];
    let running = true;
    let failures = 0;
    const mismatches: string[] = [];

    const worker = async (k: number) => {
      const client = createLedgerClient({
        members: cluster.httpUrls,
        requestTimeoutMs: 1_500,
        maxAttempts: 40,
        backoffCapMs: 300,
      });
      let i = 0;
      while (running) {
        // About one order in eight repeats an id already sent (by any worker).
        const repeat = sentIds.length > 0 && (i + k) % 8 === 0;
        const orderId = repeat ? sentIds[(i * 7919 + k) % sentIds.length]! : `w${k}-${i}`;
        if (!repeat) sentIds.push(orderId);
        const order: Order = {
          orderId,
          account: `acct-${k % 3}`,
          symbol: k % 2 ? 'AAPL' : 'MSFT',
          side: i % 3 === 0 ? 'SELL' : 'BUY',
          quantity: 1 + (i % 5),
          price: 100,
        };
        if (repeat) {
          // A repeat must carry the same content as the original to be a true retry.
          const original = acked.get(orderId);
          if (!original) {
            i++;
            continue;
          }
          Object.assign(order, {
            account: original.account,
            symbol: original.symbol,
            side: original.side,
            quantity: original.quantity,
            price: original.price,
          });
        }
        try {
          const result = await client.applyOrder(order);
          const first = acked.get(orderId);
          if (first) {
            if (result.seq !== first.seq || result.status !== first.status) {
              mismatches.push(`${orderId}: first ${JSON.stringify(first)}, repeat ${JSON.stringify(result)}`);
            }
          } else {
            acked.set(orderId, result);
          }
        } catch {
          failures++;
        }
        i++;
      }
      client.close();
    };

    const workers = Array.from({ length: 8 }, (_, k) => worker(k));
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

    running = false;
    await Promise.all(workers);
    expect(acked.size).toBeGreaterThan(50);
    expect(mismatches).toEqual([]);

    // A fourth node joins; the log has been compacted past its start, so it catches up by snapshot.
    const fourth = await cluster.addNode();
    await cluster.waitConverged(20_000);
    const st = await cluster.status(fourth.id);
    expect(st.snapshotIndex).toBeGreaterThan(1);
    expect(st.members.filter((m) => m.voter).map((m) => m.id)).toHaveLength(4);

    // No node may have died on its own along the way (a crash would also freeze its durable state).
    expect(cluster.nodes.map((n) => [n.id, n.process.exitCode, n.process.signalCode])).toEqual(
      cluster.nodes.map((n) => [n.id, null, null]),
    );
    const nodes = cluster.nodes.map((n) => ({ id: n.id, dataDir: n.dataDir }));
    const clusterCommit = (await cluster.status(fourth.id)).commitIndex;
    await cluster.stop();

    const ledgers = nodes.map((n) => ({ id: n.id, ...durableLedger(n.dataDir, clusterCommit) }));
    const reference = ledgers[0]!;
    for (const l of ledgers) {
      // Every node made the whole committed log durable.
      expect({ id: l.id, lastIndex: Math.min(l.lastIndex, clusterCommit) }).toEqual({
        id: l.id,
        lastIndex: clusterCommit,
      });
      // Every acknowledged order is on every replica exactly once (a Map by id) with the acknowledged outcome.
      for (const [orderId, result] of acked) {
        const recorded = l.orders.get(orderId);
        if (!recorded)
          throw new Error(
            `${l.id} (commit ${l.commit}, ${l.orders.size} orders) lacks acknowledged ${orderId} ${JSON.stringify(result)}; dir ${cluster.dataDir}; commits ${ledgers.map((x) => x.id + ':' + x.commit + ':' + x.orders.size).join(' ')}`,
          );
        expect(recorded!.status).toBe(result.status);
        expect(recorded!.seq).toBe(result.seq);
      }
      expect([...l.orders.values()]).toEqual([...reference.orders.values()]);
    }
    const seqs = [...reference.orders.values()]
      .filter((o) => o.status === 'ACCEPTED')
      .map((o) => o.seq!)
      .sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    process.stdout.write(
      `cluster-faults: ${acked.size} acknowledged, ${reference.orders.size} recorded, ${failures} client give-ups\n`,
    );
  });
});
