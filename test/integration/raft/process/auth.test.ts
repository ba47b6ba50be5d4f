import { createHmac } from 'node:crypto';
import { bearerFor } from '../../../../shared/ledger-contract/auth';
import type { RaftCluster } from '../../../../local-cloud/raft-cluster';
import { sleep } from '../../../../shared/util/wait';
import { clusterForSuite } from '../support/suite';

/**
 * Issue 5 §2 over real sockets: with RAFT_AUTH_SECRET set, every endpoint but the health checks refuses
 * unauthenticated and wrongly signed calls with 401 and changes nothing, and a node holding a different
 * secret is kept out of the cluster even when an operator adds it.
 */

jest.setTimeout(60_000);

const SECRET = 'correct-horse-battery-staple-0123456789';
const WRONG = 'a-different-secret-that-is-long-enough';

const order = { orderId: 'auth-1', account: 'acct', symbol: 'AAPL', side: 'BUY', quantity: 5, price: 10 };
const endpoints: [string, string, unknown?][] = [
  ['POST', '/v1/orders', order],
  ['GET', '/v1/orders/auth-1'],
  ['GET', '/v1/positions'],
  ['GET', '/v1/limits'],
  ['POST', '/v1/limits', { maxOrderQuantity: 1 }],
  ['POST', '/v1/halt'],
  ['POST', '/v1/resume'],
  ['GET', '/v1/status'],
  ['POST', '/v1/members', { nodeId: 'intruder', raftAddr: '127.0.0.1:1', httpUrl: 'http://127.0.0.1:2' }],
  ['DELETE', '/v1/members/n2'],
];

describe('authenticated Raft API', () => {
  let cluster: RaftCluster;
  let leader: string;
  const good = bearerFor(SECRET, 'admin', 3_600);
  const writer = bearerFor(SECRET, 'orders:write', 3_600);
  // The unscoped, never-expiring token of the previous scheme must not work any more.
  const legacy = `Bearer ${createHmac('sha256', SECRET).update('raft-ledger/api/v1').digest('base64url')}`;

  const call = async (url: string, method: string, path: string, body: unknown, authorization?: string) => {
    const res = await fetch(`${url}${path}`, {
      method,
      redirect: 'manual',
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.text() };
  };

  clusterForSuite({ secret: SECRET }, async (started) => {
    cluster = started;
    leader = await started.leaderUrl();
  });

  test('unauthenticated and wrongly signed calls to every endpoint get 401 and change nothing', async () => {
    const before = await cluster.status((await cluster.leaderId()).toString());
    const follower = cluster.nodes.find((n) => n.httpUrl !== leader)!.httpUrl;
    const attempts = [undefined, bearerFor(WRONG, 'admin'), `Bearer ${SECRET}`, legacy, 'Basic Zm9vOmJhcg=='];
    for (const url of [leader, follower]) {
      for (const [method, path, body] of endpoints) {
        for (const authorization of attempts) {
          const r = await call(url, method, path, body, authorization);
          expect({ method, path, authorization, status: r.status }).toEqual({
            method,
            path,
            authorization,
            status: 401,
          });
        }
      }
    }
    await sleep(300);
    const after = await cluster.status(before.nodeId);
    // Heartbeats do not touch the log; nothing was proposed.
    expect(after.commitIndex).toBe(before.commitIndex);
    expect(after.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect((await call(leader, 'GET', '/v1/orders/auth-1', undefined, good)).status).toBe(404);
    expect(JSON.parse((await call(leader, 'GET', '/v1/limits', undefined, good)).body)).toMatchObject({
      maxOrderQuantity: 10000,
      halted: false,
    });
  });

  test('health endpoints stay open; the right token works; status says the API is closed', async () => {
    for (const n of cluster.nodes) {
      expect((await call(n.httpUrl, 'GET', '/healthz', undefined)).status).toBe(200);
      expect((await call(n.httpUrl, 'GET', '/readyz', undefined)).status).toBe(200);
    }
    const placed = await call(leader, 'POST', '/v1/orders', order, writer);
    expect(placed.status).toBe(200);
    expect(JSON.parse(placed.body)).toMatchObject({ status: 'ACCEPTED', seq: 1, duplicate: false });
    const status = JSON.parse((await call(leader, 'GET', '/v1/status', undefined, good)).body);
    expect(status.authOpen).toBe(false);
  });

  test('a node with a different secret stays out, even when an operator adds it', async () => {
    const intruder = await cluster.addNode({ RAFT_AUTH_SECRET: WRONG }, { waitUntilVoter: false });
    // Its own join request is refused (its token is wrong) …
    await sleep(1_500);
    let st = await cluster.status((await cluster.leaderId()).toString());
    expect(st.members.map((m) => m.id)).not.toContain(intruder.id);
    // … and if an operator adds it anyway, the transport refuses it: it never catches up or gets promoted.
    const added = await call(
      leader,
      'POST',
      '/v1/members',
      { nodeId: intruder.id, raftAddr: intruder.raftAddr, httpUrl: intruder.httpUrl },
      good,
    );
    expect(added.status).toBe(200);
    await sleep(2_000);
    st = await cluster.status((await cluster.leaderId()).toString());
    expect(st.members.find((m) => m.id === intruder.id)).toMatchObject({ voter: false });
    const own = JSON.parse(
      (await call(intruder.httpUrl, 'GET', '/v1/status', undefined, bearerFor(WRONG, 'read'))).body,
    );
    expect(own.leaderId).toBeNull();
    expect(own.commitIndex).toBe(0);
    expect((await call(leader, 'DELETE', `/v1/members/${intruder.id}`, undefined, good)).status).toBe(200);
    await cluster.kill(intruder.id, 'SIGKILL');
  });
});
