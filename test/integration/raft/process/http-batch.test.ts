import type { Order, OrderResult } from '../../../../shared/domain/order';
import type { RaftCluster } from '../../../../local-cloud/raft-cluster';
import { callNode as call } from '../../../support/raft-http';
import { clusterForSuite, testOrder } from '../support/suite';

/** POST /v1/orders/batch against real node processes: one log entry per batch, per-order results in order. */

jest.setTimeout(90_000);

const order = (orderId: string, overrides: Partial<Order> = {}) =>
  testOrder(orderId, { symbol: 'MSFT', quantity: 3, price: 50, ...overrides });

const postBatch = (url: string, orders: unknown) => call(url, 'POST', '/v1/orders/batch', { orders });
const summary = (results: OrderResult[]) => results.map((r) => [r.orderId, r.status, r.seq, r.duplicate]);

describe('Raft HTTP API: order batches', () => {
  let cluster: RaftCluster;
  let leader: string;

  clusterForSuite({}, async (started) => {
    cluster = started;
    leader = await started.leaderUrl();
  });

  test('a batch is applied in one entry, in order; every node then reads its orders', async () => {
    const before = await cluster.status(await cluster.leaderId());
    const r = await postBatch(leader, [
      order('b-1'),
      order('b-big', { quantity: 20_000 }),
      order('b-1', { quantity: 7 }),
      order('b-2', { side: 'SELL', quantity: 1 }),
    ]);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['results']);
    expect(summary(r.body.results)).toEqual([
      ['b-1', 'ACCEPTED', 1, false],
      ['b-big', 'REJECTED', undefined, false],
      ['b-1', 'ACCEPTED', 1, true],
      ['b-2', 'ACCEPTED', 2, false],
    ]);
    expect(r.body.results[1].reason).toMatch(/quantity 20000 exceeds/);
    expect(r.body.results.map((x: OrderResult) => x.position)).toEqual([3, 3, 3, 2]);
    const after = await cluster.status(await cluster.leaderId());
    expect(after.lastLogIndex - before.lastLogIndex).toBe(1);

    // A follower redirects the batch to the leader like any write.
    const follower = cluster.httpUrls.find((u) => u !== leader)!;
    const redirected = await postBatch(follower, [order('b-3')]);
    expect(redirected).toMatchObject({ status: 307, body: { leader } });
    expect(redirected.headers.get('location')).toBe(`${leader}/v1/orders/batch`);
    for (const url of cluster.httpUrls) {
      expect((await call(url, 'GET', '/v1/orders/b-2')).body).toMatchObject({ seq: 2, duplicate: false });
    }
  });

  test('a bad order refuses the whole batch with 400 naming its index and field; nothing is applied', async () => {
    const good = order('v-1');
    for (const [orders, text] of [
      [[good, order('v-2'), { ...order('v-3'), side: 'HOLD' }], 'orders.2.side'],
      [[good, { ...order('v-3'), quantity: 0 }], 'orders.1.quantity'],
      [[{ ...good, extra: true }], 'orders.0'],
      [[good, { orderId: 'v 4' }], 'orders.1.orderId'],
      [[], 'orders'],
      [Array.from({ length: 501 }, (_, i) => order(`v-many-${i}`)), '500'],
    ] as const) {
      const r = await postBatch(leader, orders);
      expect({ status: r.status, error: r.body.error }).toEqual({ status: 400, error: expect.stringContaining(text) });
    }
    expect((await call(leader, 'POST', '/v1/orders/batch', { orders: [good], more: 1 })).status).toBe(400);
    expect((await call(leader, 'POST', '/v1/orders/batch', '{nope')).status).toBe(400);
    expect((await call(leader, 'GET', '/v1/orders/v-1')).status).toBe(404);

    // The batch route has its own body cap: 500 orders with long ids fit (over the 64 KiB of other routes) …
    const long = (i: number) => order(`${'x'.repeat(100)}-${i}`, { account: 'a'.repeat(64), quantity: 1 });
    const full = Array.from({ length: 500 }, (_, i) => long(i));
    expect(JSON.stringify({ orders: full }).length).toBeGreaterThan(64 * 1024);
    const ok = await postBatch(leader, full);
    expect(ok.status).toBe(200);
    expect(ok.body.results).toHaveLength(500);
    expect(ok.body.results.map((x: OrderResult) => x.orderId)).toEqual(full.map((o) => o.orderId));
    // … and a body past it is refused before it is parsed.
    const padded = `{"orders": [${JSON.stringify(order('v-pad'))}${' '.repeat(256_000)}]}`;
    const tooBig = await call(leader, 'POST', '/v1/orders/batch', padded);
    expect(tooBig).toMatchObject({ status: 413, body: { error: 'body larger than 256000 bytes' } });
  });

  test('re-sending a batch after kill -9 of the leader answers DUPLICATE with the same seqs', async () => {
    const batch = [order('k-1'), order('k-2', { quantity: 20_000 }), order('k-3')];
    const first = await postBatch(leader, batch);
    expect(first.status).toBe(200);
    await cluster.kill(await cluster.leaderId(), 'SIGKILL');
    leader = await cluster.leaderUrl();
    const again = await postBatch(leader, [...batch, order('k-4')]);
    expect(again.status).toBe(200);
    const expected = first.body.results.map((x: OrderResult) => ({ ...x, duplicate: true }));
    expect(again.body.results.slice(0, 3)).toEqual(expected);
    const lastSeq = Math.max(...first.body.results.map((x: OrderResult) => x.seq ?? 0));
    expect(again.body.results[3]).toMatchObject({ orderId: 'k-4', status: 'ACCEPTED', seq: lastSeq + 1 });
  });

  test('a batch whose leader dies mid-request is applied whole or not at all; re-sending settles it once', async () => {
    const leaderId = await cluster.leaderId();
    const stopped = cluster.nodes.find((n) => n.process?.exitCode !== null || n.process?.signalCode !== null);
    if (stopped) await cluster.restart(stopped.id);
    await cluster.waitConverged();
    const batch = Array.from({ length: 50 }, (_, i) => order(`m-${i}`, { account: 'acct-m', quantity: 1 }));
    // Whether the entry committed before the kill is unknown to the client: that is the uncertain case.
    const inFlight = postBatch(cluster.node(leaderId).httpUrl, batch).catch(() => undefined);
    await cluster.kill(leaderId, 'SIGKILL');
    await inFlight;
    leader = await cluster.leaderUrl();
    const settled = await postBatch(leader, batch);
    expect(settled.status).toBe(200);
    const results: OrderResult[] = settled.body.results;
    // Never half-applied: every order is new, or every order is a duplicate.
    expect(new Set(results.map((x) => x.duplicate)).size).toBe(1);
    const seqs = results.map((x) => x.seq!);
    expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i));
    // Exactly once: 50 fills of 1.
    const positions = await call(leader, 'GET', '/v1/positions?account=acct-m');
    expect(positions.body).toEqual([{ account: 'acct-m', symbol: 'MSFT', quantity: 50 }]);
  });
});
