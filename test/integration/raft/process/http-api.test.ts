import type { RaftCluster } from '../../../../local-cloud/raft-cluster';
import { callNode as call } from '../../../support/raft-http';
import { clusterForSuite } from '../support/suite';

/** Issue 2's HTTP contract, checked against real node processes. */

jest.setTimeout(60_000);

const order = { orderId: 'api-1', account: 'acct', symbol: 'MSFT', side: 'BUY', quantity: 3, price: 50 };

describe('Raft HTTP API', () => {
  let cluster: RaftCluster;
  let leader: string;
  let follower: string;

  clusterForSuite({}, async (started) => {
    cluster = started;
    leader = await started.leaderUrl();
    follower = started.httpUrls.find((u) => u !== leader)!;
  });

  test('a follower redirects writes to the same URL on the leader with 307', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/orders', order],
      ['POST', '/v1/limits', { maxAbsPosition: 500 }],
      ['POST', '/v1/halt', undefined],
      ['POST', '/v1/members', { nodeId: 'n9', raftAddr: '127.0.0.1:1', httpUrl: 'http://127.0.0.1:2' }],
      ['DELETE', '/v1/members/n9', undefined],
    ] as const) {
      const r = await call(follower, method, path, body);
      expect({ path, status: r.status, location: r.headers.get('location'), body: r.body }).toEqual({
        path,
        status: 307,
        location: `${leader}${path}`,
        body: { leader },
      });
    }
  });

  test('orders: 200 with seq, duplicate on repeat, 400 naming the field, GET 200/404 from any node', async () => {
    const placed = await call(leader, 'POST', '/v1/orders', order);
    expect(placed.status).toBe(200);
    expect(placed.body).toMatchObject({ orderId: 'api-1', status: 'ACCEPTED', seq: 1, duplicate: false, position: 3 });
    const repeat = await call(leader, 'POST', '/v1/orders', order);
    expect(repeat.body).toMatchObject({ seq: 1, duplicate: true });

    for (const [bad, field] of [
      [{ ...order, orderId: 'api-2', side: 'HOLD' }, 'side'],
      [{ ...order, orderId: 'api-2', price: -1 }, 'price'],
      [{ ...order, orderId: 'api 2' }, 'orderId'],
      [{ ...order, orderId: 'api-2', extra: 1 }, 'extra'],
      [{ orderId: 'api-2' }, 'account'],
    ] as const) {
      const r = await call(leader, 'POST', '/v1/orders', bad);
      expect(r.status).toBe(400);
      expect(r.body.error).toContain(field);
    }
    const notJson = await call(leader, 'POST', '/v1/orders', '{nope');
    expect(notJson.status).toBe(400);

    for (const url of cluster.httpUrls) {
      const got = await call(url, 'GET', '/v1/orders/api-1');
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ orderId: 'api-1', seq: 1, status: 'ACCEPTED' });
      expect((await call(url, 'GET', '/v1/orders/api-2')).status).toBe(404);
    }
  });

  test('limits, halt and resume go through the log and are seen by every node', async () => {
    const set = await call(leader, 'POST', '/v1/limits', { maxOrderQuantity: 2 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ maxOrderQuantity: 2, maxOrderNotional: 10_000_000, maxAbsPosition: 1_000_000 });
    expect((await call(leader, 'POST', '/v1/limits', { maxOrderQuantity: -1 })).status).toBe(400);
    expect((await call(leader, 'POST', '/v1/limits', {})).status).toBe(400);
    const tooBig = await call(leader, 'POST', '/v1/orders', { ...order, orderId: 'api-3' });
    expect(tooBig.body).toMatchObject({ status: 'REJECTED' });

    expect((await call(leader, 'POST', '/v1/halt')).body).toEqual({ halted: true, haltReason: null });
    for (const url of cluster.httpUrls) {
      expect((await call(url, 'GET', '/v1/limits')).body).toMatchObject({ halted: true, maxOrderQuantity: 2 });
    }
    const halted = await call(leader, 'POST', '/v1/orders', { ...order, orderId: 'api-4', quantity: 1 });
    expect(halted.body).toMatchObject({ status: 'REJECTED' });
    expect(halted.body.reason).toMatch(/halt/);
    expect((await call(leader, 'POST', '/v1/resume')).body).toEqual({ halted: false, haltReason: null });
    await call(leader, 'POST', '/v1/limits', { maxOrderQuantity: 10_000 });
    const ok = await call(leader, 'POST', '/v1/orders', { ...order, orderId: 'api-5', side: 'SELL', quantity: 1 });
    expect(ok.body).toMatchObject({ status: 'ACCEPTED', seq: 2, position: 2 });
    const positions = await call(follower, 'GET', '/v1/positions?account=acct');
    expect(positions.body).toEqual([{ account: 'acct', symbol: 'MSFT', quantity: 2 }]);
  });

  test('status, health and readiness', async () => {
    const st = await call(follower, 'GET', '/v1/status');
    expect(st.body).toMatchObject({ role: 'follower', leaderUrl: leader, authOpen: true });
    for (const key of ['term', 'commitIndex', 'appliedIndex', 'lastLogIndex', 'snapshotIndex']) {
      expect(typeof st.body[key]).toBe('number');
    }
    expect((await call(follower, 'GET', '/healthz')).status).toBe(200);
    expect((await call(follower, 'GET', '/readyz')).status).toBe(200);
    expect((await call(follower, 'GET', '/v1/nothing')).status).toBe(404);
  });

  test('without a quorum there is no leader: 503 with Retry-After, not ready; a member can be removed', async () => {
    const leaderId = await cluster.leaderId();
    const others = cluster.nodes.filter((n) => n.id !== leaderId);
    // Remove one follower for good (DELETE /v1/members), then stop the other: one voter of two is no quorum.
    const removed = await call(leader, 'DELETE', `/v1/members/${others[0]!.id}`);
    expect(removed.status).toBe(200);
    expect(removed.body.members.map((m: { id: string }) => m.id)).not.toContain(others[0]!.id);
    expect((await call(leader, 'DELETE', '/v1/members/n42')).status).toBe(404);
    await cluster.kill(others[0]!.id, 'SIGTERM');
    await cluster.kill(others[1]!.id, 'SIGKILL');
    // Check-quorum makes the isolated leader step down within an election timeout or two.
    let r = await call(leader, 'POST', '/v1/orders', { ...order, orderId: 'api-6' });
    for (let i = 0; i < 40 && r.status !== 503; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await call(leader, 'POST', '/v1/orders', { ...order, orderId: `api-6-${i}` });
    }
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('1');
    expect((await call(leader, 'GET', '/readyz')).status).toBe(503);
  });
});
