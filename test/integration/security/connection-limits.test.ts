import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { bearerFor } from '../../../shared/ledger-contract/auth';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { sleep } from '../../../shared/util/wait';

/**
 * Issue "Ledger cluster safety", finding 5, against real raft-node processes over real sockets. The attacker
 * (source address 127.0.0.2) holds thousands of idle, never-authenticated connections open to the leader's HTTP
 * API and Raft port at once — more than the node's file limit (the node runs under `ulimit -n 4096`). Before the
 * fix that exhausted the node's descriptors and no new connection got in. Now:
 *   - the attacker keeps at most the per-address cap open on each port; the rest are closed at accept;
 *   - orders written on new connections from 127.0.0.1 still succeed within 1 s each, and a new Raft connection
 *     from 127.0.0.1 still gets its handshake challenge within 1 s;
 *   - a Raft connection that never completes its handshake is closed after ~2 s, an HTTP connection that never
 *     sends a request after ~5 s (the defaults).
 */

jest.setTimeout(120_000);

const SECRET = 'connection-limits-secret-0123456789';
const ATTACKER = '127.0.0.2';
const PER_PORT = 3_000;
/** The defaults (raft-node/src/config.ts). */
const HTTP_PER_ADDRESS = 256;
const RAFT_PER_ADDRESS = 16;

interface Held {
  sockets: Socket[];
}

/**
 * Connections the node's side holds open to `peer` on `port`, as the kernel sees them (`ss`). The client's own count
 * would overstate it: once the accept queue overflows, the kernel drops the handshake's last ACK and the client
 * believes in connections the server never had.
 */
function serverHeld(port: number, peer: string): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} and dst ${peer} )`], {
    encoding: 'utf8',
  });
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

/** Opens `count` idle TCP connections from `localAddress`, 200 at a time; never writes a byte. */
async function holdIdle(host: string, port: number, count: number, localAddress: string): Promise<Held> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 200) {
    const wave = Array.from({ length: Math.min(200, count - i) }, () => {
      const s = connect({ host, port, localAddress });
      s.on('error', () => undefined);
      sockets.push(s);
      return new Promise<void>((resolve) => {
        s.once('connect', () => resolve());
        s.once('close', () => resolve());
      });
    });
    await Promise.all(wave);
  }
  return { sockets };
}

/** One order on a fresh connection (no agent) from 127.0.0.1; resolves with its status and duration. */
function postOrderFresh(baseUrl: string, orderId: string): Promise<{ status: number; ms: number }> {
  const url = new URL('/v1/orders', baseUrl);
  const body = JSON.stringify({ orderId, account: 'acct-limits', symbol: 'ACME', side: 'BUY', quantity: 1, price: 10 });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent: false,
        localAddress: '127.0.0.1',
        timeout: 5_000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: bearerFor(SECRET, 'orders:write'),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Time until a new Raft connection from 127.0.0.1 receives its challenge frame. */
function raftChallengeMs(host: string, port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, localAddress: '127.0.0.1' });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no challenge within 5 s'));
    }, 5_000);
    s.once('data', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(performance.now() - started);
    });
    s.on('error', reject);
  });
}

/** Opens a connection from 127.0.0.1 that never writes; resolves with how long the server kept it open. */
function silentLifetimeMs(host: string, port: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    const s = connect({ host, port, localAddress: '127.0.0.1' });
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.once('close', () => resolve(performance.now() - started));
  });
}

describe('connection limits', () => {
  let cluster: RaftCluster;
  const held: Held[] = [];

  afterAll(async () => {
    for (const h of held) for (const s of h.sockets) s.destroy();
    await cluster?.stop();
  });

  test(`${PER_PORT} idle sockets per port from one address do not lock other clients out`, async () => {
    cluster = await startRaftCluster({ secret: SECRET, maxOpenFiles: 4_096 });
    const leaderId = await cluster.leaderId();
    const leader = cluster.node(leaderId);
    const http = new URL(leader.httpUrl);
    const [raftHost, raftPort] = [
      leader.raftAddr.slice(0, leader.raftAddr.lastIndexOf(':')),
      Number(leader.raftAddr.split(':').pop()),
    ];

    const [httpFlood, raftFlood] = await Promise.all([
      holdIdle(http.hostname, Number(http.port), PER_PORT, ATTACKER),
      holdIdle(raftHost, raftPort, PER_PORT, ATTACKER),
    ]);
    held.push(httpFlood, raftFlood);
    await sleep(300);
    const heldAtPeak = [serverHeld(Number(http.port), ATTACKER), serverHeld(raftPort, ATTACKER)];
    expect(heldAtPeak[0]).toBeLessThanOrEqual(HTTP_PER_ADDRESS);
    expect(heldAtPeak[1]).toBeLessThanOrEqual(RAFT_PER_ADDRESS);

    // Other clients still get in, while the attacker's sockets are held.
    const writes = [];
    for (let i = 0; i < 20; i++) writes.push(await postOrderFresh(leader.httpUrl, `limits-${i}`));
    expect(writes.map((w) => w.status)).toEqual(writes.map(() => 200));
    expect(Math.max(...writes.map((w) => w.ms))).toBeLessThan(1_000);
    expect(await raftChallengeMs(raftHost, raftPort)).toBeLessThan(1_000);
    expect(cluster.isRunning(leader)).toBe(true);
  });

  test('a Raft connection without a handshake is closed after ~2 s, a silent HTTP connection after ~5 s', async () => {
    const leader = cluster.node(await cluster.leaderId());
    const http = new URL(leader.httpUrl);
    const raftPort = Number(leader.raftAddr.split(':').pop());
    const [raftMs, httpMs] = await Promise.all([
      silentLifetimeMs('127.0.0.1', raftPort),
      silentLifetimeMs(http.hostname, Number(http.port)),
    ]);
    expect(raftMs).toBeGreaterThan(1_500);
    expect(raftMs).toBeLessThan(3_500);
    expect(httpMs).toBeGreaterThan(4_500);
    expect(httpMs).toBeLessThan(7_000);
    // By now the attacker's admitted idle sockets have been closed by the same deadlines.
    expect([serverHeld(Number(http.port), ATTACKER), serverHeld(raftPort, ATTACKER)]).toEqual([0, 0]);
  });
});
