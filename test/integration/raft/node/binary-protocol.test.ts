import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { Order } from '../../../../shared/domain/order';
import { mintToken, scopedKey } from '../../../../shared/ledger-contract/auth';
import { encodeRawFrame, FrameDecoder, NO_FRAME } from '../../../../shared/ledger-contract/framing';
import {
  decodeReply,
  encodeRequest,
  Kind,
  type WireReply,
  type WireRequest,
} from '../../../../shared/ledger-contract/wire';
import { BinaryTransport } from '../../../../shared/raft-client/binary-transport';
import { createLedgerClient, LedgerClientError } from '../../../../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';

/**
 * The binary client protocol (shared/ledger-contract/wire.ts, raft-node/src/server/binary-api.ts) over real sockets
 * against real node processes, with auth on: the client library uses it, pipelined raw requests are answered by id,
 * refusals and malformed frames close the connection with a clear error, and the client bounds bytes in flight.
 */

jest.setTimeout(90_000);

const order = (orderId: string, quantity = 5): Order => ({
  orderId,
  account: 'acct-b',
  symbol: 'MSFT',
  side: 'BUY',
  quantity,
  price: 10,
});

/** A raw conversation: write bytes, collect every decoded reply until the node closes the connection. */
class RawConnection {
  readonly replies: WireReply[] = [];
  readonly closed: Promise<void>;
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder();

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('data', (chunk: Buffer) => {
      this.decoder.append(chunk);
      for (let body = this.decoder.nextRaw(); body !== NO_FRAME; body = this.decoder.nextRaw()) {
        this.replies.push(decodeReply(body));
      }
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  write(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  async waitFor(n: number): Promise<WireReply[]> {
    const deadline = Date.now() + 10_000;
    while (this.replies.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return this.replies;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Established TCP connections from this machine to `port` (Linux /proc/net/tcp: state 01). */
function establishedTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .filter((line) => {
      const cols = line.trim().split(/\s+/);
      return cols[2]?.endsWith(`:${hex}`) && cols[3] === '01';
    }).length;
}

describe('binary client protocol', () => {
  let cluster: RaftCluster;
  let secret: string;
  const bearer = (scope: 'orders:write' | 'read') => `Bearer ${mintToken(scopedKey(secret, scope))}`;
  const clientPort = (id: string) => cluster.node(id).clientPort!;

  beforeAll(async () => {
    cluster = await startRaftCluster({ secret: 'generate' });
    secret = cluster.secret!;
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('the client library sends orders over it by default, through a follower to the leader', async () => {
    const leaderId = await cluster.leaderId();
    const followers = cluster.nodes.filter((n) => n.id !== leaderId).map((n) => n.httpUrl);
    const client = createLedgerClient({ members: followers, authSecret: secret });
    try {
      const first = await client.applyOrder(order('b-1'));
      expect(first).toMatchObject({ orderId: 'b-1', status: 'ACCEPTED', duplicate: false, position: 5 });
      expect(await client.applyOrder(order('b-1'))).toMatchObject({ seq: first.seq, duplicate: true });
      const batch = await client.applyOrders([order('b-2'), order('b-big', 20_000), order('b-1')]);
      expect(batch.map((r) => [r.orderId, r.status, r.duplicate])).toEqual([
        ['b-2', 'ACCEPTED', false],
        ['b-big', 'REJECTED', false],
        ['b-1', 'ACCEPTED', true],
      ]);
      expect(batch[1]!.reason).toMatch(/quantity/);
      expect(await client.getOrder('b-2')).toMatchObject({ seq: batch[0]!.seq, status: 'ACCEPTED' });
      expect(await client.getOrder('never-sent')).toBeUndefined();
      // The writes went over the leader's binary port: this process holds connections to it.
      expect(establishedTo(clientPort(leaderId))).toBeGreaterThan(0);
      await expect(client.applyOrder({ ...order('b-bad'), quantity: 0 })).rejects.toThrow(/quantity/);
    } finally {
      client.close();
    }
  });

  test('cancel: over the binary protocol and over HTTP, the same answers; CANCEL needs orders:write', async () => {
    for (const protocol of ['binary', 'http'] as const) {
      const client = createLedgerClient({ members: cluster.nodes.map((n) => n.httpUrl), authSecret: secret, protocol });
      try {
        const id = `c-${protocol}`;
        expect(await client.cancelOrder(id, 'acct-b')).toEqual({
          orderId: id,
          account: 'acct-b',
          status: 'CANCELED',
          pending: true,
          duplicate: false,
        });
        expect(await client.applyOrder(order(id))).toMatchObject({ status: 'CANCELED', duplicate: false });
        expect(await client.getOrder(id)).toMatchObject({ status: 'CANCELED', reason: expect.any(String) });
        expect(await client.cancelOrder(id, 'acct-b')).toMatchObject({ status: 'CANCELED', duplicate: true });
        await client.applyOrder(order(`${id}-done`));
        expect(await client.cancelOrder(`${id}-done`, 'acct-b')).toMatchObject({ status: 'ACCEPTED', pending: false });
        await expect(client.cancelOrder(`${id}-done`, 'mallory')).rejects.toMatchObject({ status: 409 });
        await expect(client.cancelOrder('..', 'acct-b')).rejects.toMatchObject({ status: 400 });
      } finally {
        client.close();
      }
    }
    const raw = new RawConnection(clientPort(await cluster.leaderId()));
    try {
      raw.write(
        encodeRequest({ kind: Kind.HELLO, id: 1, authorization: bearer('read') }),
        encodeRequest({ kind: Kind.CANCEL, id: 2, orderId: 'c-raw', account: 'acct-b' }),
      );
      const replies = await raw.waitFor(2);
      expect(replies.find((r) => r.id === 2)).toMatchObject({ status: 403 });
    } finally {
      raw.close();
    }
  });

  /** HELLO (orders:write) and `requests` pipelined in one write to the leader; the replies by request id. */
  async function exchange(requests: WireRequest[]): Promise<Map<number, WireReply>> {
    const raw = new RawConnection(clientPort(await cluster.leaderId()));
    try {
      raw.write(
        encodeRequest({ kind: Kind.HELLO, id: 1, authorization: bearer('orders:write') }),
        ...requests.map(encodeRequest),
      );
      return new Map((await raw.waitFor(requests.length + 1)).map((r) => [r.id, r]));
    } finally {
      raw.close();
    }
  }

  test('pipelined requests in one write are answered by request id', async () => {
    const byId = await exchange([
      { kind: Kind.APPLY_ORDER, id: 7, order: order('p-1') },
      { kind: Kind.APPLY_BATCH, id: 8, orders: [order('p-2'), order('p-3')] },
      { kind: Kind.GET_ORDER, id: 9, orderId: 'p-1' },
      { kind: Kind.APPLY_ORDER, id: 10, order: { ...order('p-bad'), side: 'SELL', price: -1 } },
    ]);
    expect(byId.get(1)).toMatchObject({ status: 200 });
    expect(byId.get(7)).toMatchObject({ status: 200, body: { orderId: 'p-1', status: 'ACCEPTED' } });
    const batch = byId.get(8) as { body: Array<{ orderId: string }> };
    expect(batch.body.map((r) => r.orderId)).toEqual(['p-2', 'p-3']);
    // Read after write on one connection: the read was sent after the write and sees it.
    expect(byId.get(9)).toMatchObject({ status: 200, body: { orderId: 'p-1' } });
    expect(byId.get(10)).toMatchObject({ status: 400, error: expect.stringMatching(/^price: /) });
    // The kinds from before the entry timestamps are answered as before: no executedTs, for clients that predate it.
    for (const id of [7, 9]) expect((byId.get(id) as { body: object }).body).not.toHaveProperty('executedTs');
  });

  test('stamped requests get the instant the leader stamped on the entry, the same on the apply and a later read', async () => {
    const byId = await exchange([
      { kind: Kind.APPLY_BATCH, id: 2, orders: [order('s-1'), order('s-2')], stamped: true },
      { kind: Kind.GET_ORDER, id: 3, orderId: 's-2', stamped: true },
      { kind: Kind.APPLY_ORDER, id: 4, order: order('s-1'), stamped: true },
    ]);
    const [first, second] = (byId.get(2) as { body: { executedTs?: number }[] }).body;
    expect(first!.executedTs).toBeGreaterThan(Date.now() - 60_000);
    // One entry, one instant; the read and the repeat answer it.
    expect(second!.executedTs).toBe(first!.executedTs);
    expect(byId.get(3)).toMatchObject({ status: 200, body: { orderId: 's-2', executedTs: first!.executedTs } });
    expect(byId.get(4)).toMatchObject({ status: 200, body: { duplicate: true, executedTs: first!.executedTs } });
  });

  test('a follower redirects to the leader; after the leader is killed the client finds the new one', async () => {
    const leaderId = await cluster.leaderId();
    const follower = cluster.nodes.find((n) => n.id !== leaderId)!;
    const raw = new RawConnection(follower.clientPort!);
    raw.write(
      encodeRequest({ kind: Kind.HELLO, id: 1, authorization: bearer('orders:write') }),
      encodeRequest({ kind: Kind.APPLY_ORDER, id: 2, order: order('r-1') }),
    );
    const [, redirect] = await raw.waitFor(2);
    expect(redirect).toMatchObject({ id: 2, status: 307, leader: cluster.node(leaderId).httpUrl });
    raw.close();

    const client = createLedgerClient({ members: cluster.httpUrls, authSecret: secret, requestTimeoutMs: 1_000 });
    try {
      await client.applyOrder(order('r-before'));
      await cluster.kill(leaderId, 'SIGKILL');
      expect(await client.applyOrder(order('r-during'))).toMatchObject({ status: 'ACCEPTED' });
      // The same dedup id sent again after the failover answers the first result.
      expect(await client.applyOrder(order('r-before'))).toMatchObject({ duplicate: true });
    } finally {
      client.close();
      await cluster.restart(leaderId);
      await cluster.waitConverged();
    }
  });

  test('authentication: a bad token is refused with 401 and the connection closed; scope is enforced', async () => {
    const leaderId = await cluster.leaderId();
    const bad = new RawConnection(clientPort(leaderId));
    bad.write(
      encodeRequest({ kind: Kind.HELLO, id: 1, authorization: 'Bearer not-a-token' }),
      encodeRequest({ kind: Kind.APPLY_ORDER, id: 2, order: order('a-1') }),
    );
    await bad.closed;
    expect(bad.replies).toEqual([{ kind: Kind.REPLY, id: 1, status: 401, error: 'malformed bearer token' }]);

    const reader = new RawConnection(clientPort(leaderId));
    reader.write(
      encodeRequest({ kind: Kind.HELLO, id: 1, authorization: bearer('read') }),
      encodeRequest({ kind: Kind.APPLY_ORDER, id: 2, order: order('a-2') }),
    );
    const [, refused] = await reader.waitFor(2);
    expect(refused).toMatchObject({ id: 2, status: 403, error: expect.stringMatching(/needs scope orders:write/) });
    reader.close();

    const wrong = createLedgerClient({ members: cluster.httpUrls, authSecret: 'a-different-secret-of-enough-length' });
    const err = await wrong.applyOrder(order('a-3')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerClientError);
    expect((err as LedgerClientError).status).toBe(401);
    wrong.close();
  });

  test('a malformed frame, or a request before HELLO, closes the connection with a clear error', async () => {
    const port = clientPort(await cluster.leaderId());
    const cases: Array<[Buffer, RegExp]> = [
      [encodeRequest({ kind: Kind.APPLY_ORDER, id: 3, order: order('m-1') }), /first message must be HELLO/],
      [encodeRawFrame(Buffer.from([9, 0, 0, 0, 1])), /malformed frame: unknown request kind 9/],
      [encodeRawFrame(Buffer.from([Kind.HELLO, 0, 0])), /malformed frame: message cut short reading request id/],
      [Buffer.from('GET / HTTP/1.1\r\n\r\n'), /malformed frame: frame of \d+ bytes exceeds the 4096 limit/],
    ];
    for (const [bytes, error] of cases) {
      const raw = new RawConnection(port);
      raw.write(bytes);
      await raw.closed;
      expect(raw.replies).toEqual([{ kind: Kind.ERROR, id: 0, error: expect.stringMatching(error) }]);
    }
  });

  test('back-pressure: the client keeps at most maxInflightBytes of unanswered requests on a connection', async () => {
    const leaderId = await cluster.leaderId();
    const addr = `127.0.0.1:${clientPort(leaderId)}`;
    const maxInflightBytes = 400; // room for about three orders
    const transport = new BinaryTransport({
      authorization: () => bearer('orders:write'),
      timeoutMs: 20_000,
      connectionsPerNode: 1,
      maxInflightBytes,
    });
    try {
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          transport.request(addr, { kind: Kind.APPLY_ORDER, order: order(`bp-${i}`) }),
        ),
      );
      expect(replies.every((r) => r.kind === Kind.REPLY && r.status === 200)).toBe(true);
      const [conn] = transport.connections(addr);
      expect(conn!.maxInflightSeen).toBeGreaterThan(0);
      expect(conn!.maxInflightSeen).toBeLessThanOrEqual(maxInflightBytes);
    } finally {
      transport.close();
    }
  });
});
