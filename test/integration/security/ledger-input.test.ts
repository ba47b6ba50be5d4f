import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { requiredScope, TokenSource } from '../../../shared/ledger-contract/auth';
import { createLedgerClient } from '../../../shared/raft-client/client';
import type { RaftCluster } from '../../../local-cloud/raft-cluster';
import { clusterForSuite } from '../raft/support/suite';

/**
 * Issue "Ledger cluster safety", finding 7 and the member/redirect parts of finding 5, against a real 3-node
 * cluster over HTTP. Each test is an attack or a careless input that main accepted or answered with 500.
 */

jest.setTimeout(90_000);

const SECRET = 'ledger-input-secret-0123456789';
const tokens = new TokenSource({ secret: SECRET });

async function call(url: string, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const res = await fetch(`${url}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      authorization: tokens.header(requiredScope(method, path)),
      ...(body === undefined ? {} : { 'content-type': contentType }),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const order = (over: Record<string, unknown>) => ({
  orderId: `o-${Math.random().toString(36).slice(2)}`,
  account: 'acct-in',
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 10,
  price: 100,
  ...over,
});

describe('ledger input attacks', () => {
  let cluster: RaftCluster;
  let leader: string;

  clusterForSuite({ secret: SECRET }, async (started) => {
    cluster = started;
    leader = await started.leaderUrl();
  });

  test('malformed %-encoding in a URL is a 400 naming it, not a 500', async () => {
    for (const path of ['/v1/orders/%E0%A4%A', '/v1/orders/%', '/v1/members/%ZZ']) {
      const method = path.startsWith('/v1/members') ? 'DELETE' : 'GET';
      const r = await call(leader, method, path);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.body.error).toMatch(/malformed %-encoding/);
    }
  });

  test('orderId and account "." and ".." are refused with a clear message', async () => {
    for (const [field, value] of [
      ['orderId', '.'],
      ['orderId', '..'],
      ['account', '.'],
      ['account', '..'],
    ] as const) {
      const r = await call(leader, 'POST', '/v1/orders', order({ [field]: value }));
      expect(r.status).toBe(400);
      expect(r.body.error).toContain(`${field} must not be "." or ".."`);
    }
  });

  test('symbol variants are one symbol: the position limit cannot be bypassed with aapl / AAPL. / " AAPL "', async () => {
    const account = 'acct-variants';
    expect((await call(leader, 'POST', '/v1/limits', { maxAbsPosition: 25 })).status).toBe(200);
    const results = [];
    for (const symbol of ['AAPL', 'aapl', 'AAPL.', ' Aapl- ']) {
      results.push((await call(leader, 'POST', '/v1/orders', order({ account, symbol }))).body);
    }
    expect(results.map((r) => [r.symbol, r.status])).toEqual([
      ['AAPL', 'ACCEPTED'],
      ['AAPL', 'ACCEPTED'],
      ['AAPL', 'REJECTED'],
      ['AAPL', 'REJECTED'],
    ]);
    expect(results[2]!.reason).toMatch(/position 30 in AAPL .* exceed the limit of ±25/);
    const positions = (await call(leader, 'GET', `/v1/positions?account=${account}`)).body as unknown;
    expect(positions).toEqual([{ account, symbol: 'AAPL', quantity: 20 }]);
    await call(leader, 'POST', '/v1/limits', { maxAbsPosition: 1_000_000 });
  });

  test('a batch normalises its symbols like a single order does', async () => {
    const account = 'acct-batch-variants';
    const orders = ['msft', ' MSFT. '].map((symbol) => order({ account, symbol }));
    const { status, body } = await call(leader, 'POST', '/v1/orders/batch', { orders });
    expect(status).toBe(200);
    expect((body.results as { symbol: string }[]).map((r) => r.symbol)).toEqual(['MSFT', 'MSFT']);
    const positions = (await call(leader, 'GET', `/v1/positions?account=${account}`)).body as unknown;
    expect(positions).toEqual([{ account, symbol: 'MSFT', quantity: 20 }]);
  });

  test('tiny prices are refused by the minimum price and minimum notional', async () => {
    const cheap = await call(leader, 'POST', '/v1/orders', order({ price: 0.000001 }));
    expect(cheap.body).toMatchObject({
      status: 'REJECTED',
      reason: 'price 0.000001 is below the minimum price of 0.01',
    });
    const small = await call(leader, 'POST', '/v1/orders', order({ price: 0.05, quantity: 2 }));
    expect(small.body).toMatchObject({ status: 'REJECTED' });
    expect(small.body.reason).toMatch(/notional 0.1 is below the per-order minimum of 1/);
    const limits = (await call(leader, 'GET', '/v1/limits')).body;
    expect(limits).toMatchObject({ minPrice: 0.01, minOrderNotional: 1 });
  });

  test('the halt reason is kept: in /v1/status of every node and in the rejection of orders while halted', async () => {
    const halt = await call(leader, 'POST', '/v1/halt', { reason: 'fat-finger incident #42' });
    expect(halt.body).toEqual({ halted: true, haltReason: 'fat-finger incident #42' });
    await cluster.waitConverged();
    for (const node of cluster.nodes) {
      expect(await cluster.status(node.id)).toMatchObject({ halted: true, haltReason: 'fat-finger incident #42' });
    }
    const refused = await call(leader, 'POST', '/v1/orders', order({}));
    expect(refused.body).toMatchObject({ status: 'REJECTED', reason: 'trading is halted: fat-finger incident #42' });
    expect((await call(leader, 'POST', '/v1/halt', { reason: '' })).status).toBe(400);
    expect((await call(leader, 'POST', '/v1/resume')).body).toEqual({ halted: false, haltReason: null });
  });

  test('a body that is not application/json is refused with 415 before it is read, on every write route', async () => {
    for (const [path, body] of [
      ['/v1/orders', JSON.stringify(order({}))],
      ['/v1/limits', JSON.stringify({ maxAbsPosition: 1 })],
      ['/v1/halt', JSON.stringify({ reason: 'x' })],
    ] as const) {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const r = await call(leader, 'POST', path, body, type);
        expect({ path, type, status: r.status }).toEqual({ path, type, status: 415 });
        expect(r.body.error).toContain(`content-type must be application/json, got "${type}"`);
      }
    }
    expect((await call(leader, 'GET', '/v1/limits')).body).toMatchObject({ maxAbsPosition: 1_000_000, halted: false });
  });

  test('POST /v1/members cannot move an existing member to another address (409); a retried join can', async () => {
    const victim = cluster.nodes.find((n) => n.httpUrl !== leader)!;
    const moved = await call(leader, 'POST', '/v1/members', {
      nodeId: victim.id,
      raftAddr: '127.0.0.1:9',
      httpUrl: 'http://127.0.0.1:9',
    });
    expect(moved.status).toBe(409);
    expect(moved.body.error).toMatch(
      new RegExp(`member ${victim.id} is at ${victim.raftAddr}.*needs the replace flow`),
    );
    const same = await call(leader, 'POST', '/v1/members', {
      nodeId: victim.id,
      raftAddr: victim.raftAddr,
      httpUrl: victim.httpUrl,
    });
    expect(same.status).toBe(200);
    const st = await cluster.status(victim.id);
    expect(st.members.find((m) => m.id === victim.id)).toMatchObject({ raftAddr: victim.raftAddr });
  });

  test('the client follows a redirect only to a known member: a rogue Location never sees the token', async () => {
    const rogueSeen: IncomingHttpHeaders[] = [];
    const rogue = await listen(
      createServer((req, res) => {
        rogueSeen.push(req.headers);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }),
    );
    const rogueUrl = `http://127.0.0.1:${(rogue.address() as AddressInfo).port}`;
    // A configured but misbehaving member: it redirects every request to the rogue node.
    const redirector = await listen(
      createServer((req, res) => {
        req.resume();
        res.writeHead(307, { location: `${rogueUrl}${req.url}`, 'content-type': 'application/json' });
        res.end(JSON.stringify({ leader: rogueUrl }));
      }),
    );
    const redirectorUrl = `http://127.0.0.1:${(redirector.address() as AddressInfo).port}`;
    const client = createLedgerClient({ members: [redirectorUrl, ...cluster.httpUrls], authSecret: SECRET });
    try {
      const result = await client.applyOrder(order({ orderId: 'redirect-1' }) as never);
      expect(result).toMatchObject({ orderId: 'redirect-1', status: 'ACCEPTED' });
      expect(await client.getOrder('redirect-1')).toMatchObject({ status: 'ACCEPTED' });
      expect(rogueSeen).toHaveLength(0);
    } finally {
      client.close();
      rogue.close();
      redirector.close();
    }
  });
});

function listen(server: Server): Promise<Server> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
