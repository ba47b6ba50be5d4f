import { createLedgerClient, LedgerClientError } from '../../../../shared/raft-client/client';
import type { RaftCluster } from '../../../../local-cloud/raft-cluster';
import { clusterForSuite, testOrder } from '../support/suite';

/** The ledger client against real node processes: leader discovery, redirects, retries, failover. */

jest.setTimeout(60_000);

const order = (orderId: string, quantity = 5) => testOrder(orderId, { account: 'acct-1', quantity });

describe('ledger client', () => {
  let cluster: RaftCluster;

  clusterForSuite({}, (started) => {
    cluster = started;
  });

  test('finds the leader through a follower, and a repeat returns the first result', async () => {
    const leader = await cluster.leaderUrl();
    const followers = cluster.httpUrls.filter((u) => u !== leader);
    const client = createLedgerClient({ members: followers });
    try {
      const first = await client.applyOrder(order('c-1'));
      expect(first).toMatchObject({ orderId: 'c-1', status: 'ACCEPTED', seq: 1, duplicate: false, position: 5 });
      const again = await client.applyOrder(order('c-1'));
      expect(again).toMatchObject({ status: 'ACCEPTED', seq: 1, duplicate: true, position: 5 });
      // Linearizable reads from a follower see the write at once.
      const viaFollower = createLedgerClient({ members: [followers[1]!] });
      expect(await viaFollower.getOrder('c-1')).toMatchObject({ seq: 1, status: 'ACCEPTED' });
      expect(await viaFollower.getOrder('never-sent')).toBeUndefined();
      expect(await viaFollower.positions('acct-1')).toEqual([{ account: 'acct-1', symbol: 'AAPL', quantity: 5 }]);
      viaFollower.close();
    } finally {
      client.close();
    }
  });

  test('a rejected order is answered, and a bad one is refused with the field named', async () => {
    const client = createLedgerClient({ members: cluster.httpUrls });
    try {
      const rejected = await client.applyOrder(order('c-big', 20_000));
      expect(rejected).toMatchObject({ status: 'REJECTED', duplicate: false });
      expect(rejected.reason).toMatch(/quantity/i);
      expect(rejected.seq).toBeUndefined();
      const bad = { ...order('c-bad'), quantity: 0 };
      await expect(client.applyOrder(bad)).rejects.toThrow(LedgerClientError);
      await expect(client.applyOrder(bad)).rejects.toThrow(/quantity/);
    } finally {
      client.close();
    }
  });

  test('status of every node agrees on the leader and the members', async () => {
    const client = createLedgerClient({ members: cluster.httpUrls });
    try {
      const statuses = await Promise.all(cluster.httpUrls.map((u) => client.status(u)));
      const leaders = new Set(statuses.map((s) => s.leaderId));
      expect(leaders.size).toBe(1);
      for (const s of statuses) {
        expect(s.members.map((m) => [m.id, m.voter])).toEqual([
          ['n1', true],
          ['n2', true],
          ['n3', true],
        ]);
        expect((s as typeof s & { authOpen: boolean }).authOpen).toBe(true);
      }
    } finally {
      client.close();
    }
  });

  test('survives kill -9 of the leader and its restart from its own data dir', async () => {
    const client = createLedgerClient({ members: cluster.httpUrls, requestTimeoutMs: 1_000, maxAttempts: 30 });
    try {
      await client.applyOrder(order('c-before'));
      const leader = await cluster.leaderId();
      await cluster.kill(leader, 'SIGKILL');
      const during = await client.applyOrder(order('c-during'));
      expect(during.status).toBe('ACCEPTED');
      await cluster.restart(leader);
      await cluster.waitConverged();
      const restarted = createLedgerClient({ members: [cluster.node(leader).httpUrl] });
      expect(await restarted.getOrder('c-during')).toMatchObject({ seq: during.seq });
      restarted.close();
    } finally {
      client.close();
    }
  });

  test('a stalled leader (SIGSTOP) makes the request uncertain; the client reads back or retries', async () => {
    const client = createLedgerClient({ members: cluster.httpUrls, requestTimeoutMs: 700, maxAttempts: 30 });
    const leader = await cluster.leaderId();
    try {
      await client.applyOrder(order('c-warm'));
      await cluster.kill(leader, 'SIGSTOP');
      const result = await client.applyOrder(order('c-stalled'));
      expect(result.status).toBe('ACCEPTED');
    } finally {
      await cluster.kill(leader, 'SIGCONT');
      client.close();
    }
    await cluster.waitConverged();
    const check = createLedgerClient({ members: [cluster.node(leader).httpUrl] });
    expect(await check.getOrder('c-stalled')).toMatchObject({ status: 'ACCEPTED' });
    check.close();
  });
});
