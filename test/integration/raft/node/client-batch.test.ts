import { createLedgerClient, LedgerClientError } from '../../../../shared/raft-client/client';
import type { RaftCluster } from '../../../../local-cloud/raft-cluster';
import { clusterForSuite, testOrder } from '../support/suite';

/** The ledger client's applyOrders against real node processes: results in input order, retries exactly once. */

jest.setTimeout(90_000);

const order = (orderId: string, quantity = 1, account = 'acct-b') => testOrder(orderId, { account, quantity });

describe('ledger client: batches', () => {
  let cluster: RaftCluster;

  clusterForSuite({}, (started) => {
    cluster = started;
  });

  test('answers one result per order in input order, through a follower; a repeat answers the first results', async () => {
    const leader = await cluster.leaderUrl();
    const client = createLedgerClient({ members: cluster.httpUrls.filter((u) => u !== leader) });
    try {
      const batch = [order('cb-1', 5), order('cb-big', 20_000), order('cb-1', 9), order('cb-2', 2)];
      const results = await client.applyOrders(batch);
      expect(results.map((r) => [r.orderId, r.status, r.seq, r.duplicate, r.position])).toEqual([
        ['cb-1', 'ACCEPTED', 1, false, 5],
        ['cb-big', 'REJECTED', undefined, false, 5],
        ['cb-1', 'ACCEPTED', 1, true, 5],
        ['cb-2', 'ACCEPTED', 2, false, 7],
      ]);
      const again = await client.applyOrders([order('cb-2'), order('cb-3')]);
      expect(again).toEqual([
        { ...results[3], duplicate: true },
        expect.objectContaining({ orderId: 'cb-3', seq: 3, duplicate: false }),
      ]);
      // The single-order call sees batch-made orders, and the other way round.
      expect(await client.applyOrder(order('cb-3'))).toMatchObject({ seq: 3, duplicate: true });
      expect(await client.getOrder('cb-big')).toMatchObject({ status: 'REJECTED' });
    } finally {
      client.close();
    }
  });

  test('refuses a bad batch with the order index and field named, and applies none of it', async () => {
    const client = createLedgerClient({ members: cluster.httpUrls });
    try {
      const bad = [order('cb-ok'), { ...order('cb-bad'), quantity: 0 }];
      const refusal = await client.applyOrders(bad).catch((err: unknown) => err);
      expect(refusal).toBeInstanceOf(LedgerClientError);
      expect(refusal).toMatchObject({ status: 400, message: expect.stringContaining('orders.1.quantity') });
      await expect(client.applyOrders([])).rejects.toMatchObject({ status: 400 });
      expect(await client.getOrder('cb-ok')).toBeUndefined();
    } finally {
      client.close();
    }
  });

  test('a stalled leader (SIGSTOP) makes the batch uncertain; the retry applies each order exactly once', async () => {
    const client = createLedgerClient({ members: cluster.httpUrls, requestTimeoutMs: 700, maxAttempts: 30 });
    const leader = await cluster.leaderId();
    const batch = Array.from({ length: 40 }, (_, i) => order(`cs-${i}`, 1, 'acct-stall'));
    try {
      await client.applyOrders([order('cs-warm', 1, 'acct-warm')]);
      await cluster.kill(leader, 'SIGSTOP');
      const results = await client.applyOrders(batch);
      expect(results.map((r) => r.orderId)).toEqual(batch.map((o) => o.orderId));
      expect(results.every((r) => r.status === 'ACCEPTED')).toBe(true);
      // One entry: its seqs are consecutive, and all of its orders are new or all were applied before the retry.
      const seqs = results.map((r) => r.seq!);
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
      expect(new Set(results.map((r) => r.duplicate)).size).toBe(1);
    } finally {
      await cluster.kill(leader, 'SIGCONT');
      client.close();
    }
    await cluster.waitConverged();
    // Once, however many times it was sent: 40 fills of 1, on the node that was stalled too.
    const check = createLedgerClient({ members: [cluster.node(leader).httpUrl] });
    try {
      expect(await check.positions('acct-stall')).toEqual([{ account: 'acct-stall', symbol: 'AAPL', quantity: 40 }]);
    } finally {
      check.close();
    }
  });
});
