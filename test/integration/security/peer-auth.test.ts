import { createServer, type Server } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chaos } from '../../../raft-node/src/chaos';
import { encodeCommand, LedgerStateMachine } from '../../../raft-node/src/ledger';
import { createLogger } from '../../../raft-node/src/logger';
import { encodeRawFrame } from '../../../shared/ledger-contract/framing';
import { dialPeer, peerConversation, type RawPeer } from '../../support/raw-peer';
import {
  acceptProof,
  derivePeerKey,
  dialProof,
  newNonce,
  peerKeys,
  type DialBinding,
} from '../../../raft-node/src/server/peer-auth';
import {
  encodePeerFrame,
  FrameKind,
  PEER_PROTOCOL_VERSION,
  type ChallengeFrame,
  type HelloFrame,
  type PeerFrame,
} from '../../../raft-node/src/server/peer-wire';
import type { SnapshotChunkMessage } from '../../../raft-node/src/server/snapshot-transfer';
import { Transport } from '../../../raft-node/src/server/transport';
import { writeSnapshotFile } from '../../../raft-node/src/storage';
import { freePort } from '../../../local-cloud/emulators/child-service';
import { lazyLedgerClient } from '../../../shared/aws/ledger';
import { bearerFor, encodeScopedKey, mintToken, scopedKey } from '../../../shared/ledger-contract/auth';
import { createLedgerClient } from '../../../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { sleep } from '../../../shared/util/wait';

/**
 * Issue "Ledger cluster safety and access control", finding 1, against real raft-node processes over real
 * sockets: a client credential can neither change membership nor pass as a peer; a relayed or replayed peer
 * handshake is refused; a forged snapshot is refused before it replaces anything; tokens expire, rotate and are
 * scoped. The forged-snapshot case plays a compromised peer that holds the real peer key (derived from the
 * cluster secret the test knows) and uses the real transport module: what it shows is that a correctly
 * authenticated peer still cannot install a malformed or foreign snapshot.
 */

jest.setTimeout(120_000);

const SECRET = 'peer-auth-test-secret-0123456789abcdef';
const OLD = 'peer-auth-old-secret-0123456789abcdef';
const CLUSTER_ID = 'sec';

type Frame = PeerFrame;
const dial = dialPeer;

async function call(url: string, method: string, path: string, authorization?: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    redirect: 'manual',
    headers: { ...(authorization ? { authorization } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

describe('peer and client authentication (finding 1)', () => {
  let cluster: RaftCluster;
  let leaderUrl: string;
  const writer = bearerFor(SECRET, 'orders:write');
  const reader = bearerFor(SECRET, 'read');
  const admin = bearerFor(SECRET, 'admin');

  beforeAll(async () => {
    cluster = await startRaftCluster({
      secret: SECRET,
      env: { RAFT_AUTH_SECRET_PREVIOUS: OLD, RAFT_CLUSTER_ID: CLUSTER_ID, LOG_LEVEL: 'info' },
    });
    leaderUrl = await cluster.leaderUrl();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('client tokens cannot change membership, halt or limits: 403 naming the admin scope', async () => {
    const fake = { nodeId: 'fake', raftAddr: '127.0.0.1:1', httpUrl: 'http://127.0.0.1:2' };
    for (const token of [writer, reader]) {
      const add = await call(leaderUrl, 'POST', '/v1/members', token, fake);
      expect(add).toEqual({ status: 403, body: { error: expect.stringContaining('needs scope admin') } });
      expect((await call(leaderUrl, 'DELETE', '/v1/members/n3', token)).status).toBe(403);
      expect((await call(leaderUrl, 'POST', '/v1/halt', token)).status).toBe(403);
      expect((await call(leaderUrl, 'POST', '/v1/limits', token, { maxOrderQuantity: 1 })).status).toBe(403);
    }
    // read and admin tokens cannot place orders; the write token can.
    const order = { orderId: 'pa-1', account: 'acct', symbol: 'AAPL', side: 'BUY', quantity: 1, price: 10 };
    for (const token of [reader, admin]) {
      const placed = await call(leaderUrl, 'POST', '/v1/orders', token, order);
      expect(placed).toEqual({ status: 403, body: { error: expect.stringContaining('needs scope orders:write') } });
    }
    expect((await call(leaderUrl, 'POST', '/v1/orders', writer, order)).status).toBe(200);
    // Any valid token reads.
    for (const token of [reader, writer, admin])
      expect((await call(leaderUrl, 'GET', '/v1/status', token)).status).toBe(200);
    const status = await cluster.status(await cluster.leaderId());
    expect(status.members.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  /** A hello as a genuine dialer would build it, with `proof` computed by `prove`. */
  const hello = (
    challenge: Frame | string,
    dialer: { id: string; raftAddr: string; httpUrl: string },
    prove: (b: DialBinding) => string,
  ) => {
    const c = challenge as ChallengeFrame;
    const dialerId = dialer.id;
    const b: DialBinding = {
      clusterId: CLUSTER_ID,
      dialerId,
      listenerId: c.nodeId,
      raftAddr: dialer.raftAddr,
      httpUrl: dialer.httpUrl,
      listenerNonce: c.nonce,
      dialerNonce: newNonce(),
      timestamp: Date.now(),
    };
    return {
      binding: b,
      frame: {
        kind: FrameKind.HELLO,
        version: PEER_PROTOCOL_VERSION,
        nodeId: dialerId,
        raftAddr: b.raftAddr,
        httpUrl: b.httpUrl,
        nonce: b.dialerNonce,
        timestamp: b.timestamp,
        proof: prove(b),
      } satisfies HelloFrame,
    };
  };

  test('a client token is not a peer proof, a peer proof is not a client token, a proof for another cluster is refused; the real peer key works', async () => {
    const target = cluster.nodes[2]!;
    // Claims to be n1 at n1's real addresses, so the target's address book is not disturbed.
    const n1 = cluster.nodes[0]!;
    const peerKey = derivePeerKey(SECRET);
    // Positive control: the same frames with the real peer key are welcomed, with a listener proof that checks.
    const ok = dial(target.raftAddr);
    const okHello = hello(await ok.next(), n1, (b) => dialProof(peerKey, b));
    ok.send(okHello.frame);
    expect(await ok.next()).toEqual({ kind: FrameKind.WELCOME, proof: acceptProof(peerKey, okHello.binding) });
    ok.close();

    for (const token of [writer, reader, admin]) {
      const w = dial(target.raftAddr);
      w.send(hello(await w.next(), n1, () => token.replace(/^Bearer /, '')).frame);
      expect(await w.next()).toBe('closed');
    }
    // The real peer key, but a proof bound to another cluster's id (a node of a second cluster sharing the
    // secret, e.g. a test cluster pointed at production): refused, since the listener checks its own cluster id.
    const foreign = dial(target.raftAddr);
    foreign.send(
      hello(await foreign.next(), n1, (b) => dialProof(peerKey, { ...b, clusterId: 'other-cluster' })).frame,
    );
    expect(await foreign.next()).toBe('closed');
    // A client-token signing key used as if it were the peer key is refused too.
    const w = dial(target.raftAddr);
    w.send(hello(await w.next(), n1, (b) => dialProof(scopedKey(SECRET, 'admin').key, b)).frame);
    expect(await w.next()).toBe('closed');
    // And the other way round: a peer proof as a bearer token.
    const proofAsToken = dialProof(peerKey, okHello.binding);
    expect((await call(target.httpUrl, 'GET', '/v1/status', `Bearer ${proofAsToken}`)).status).toBe(401);
  });

  test("a real node's hello, relayed to another node or replayed, is refused", async () => {
    // The attacker runs a "node" and gets it added as a learner (here with the admin token: the step a client
    // token can no longer do). The leader then dials it and answers a challenge the attacker took from n_x.
    const leaderId = await cluster.leaderId();
    const victim = cluster.nodes.find((n) => n.id !== leaderId)!;
    const port = await freePort();
    const captured: Frame[] = [];
    let victimSide: RawPeer | undefined;
    const attacker: Server = createServer((socket) => {
      const w = peerConversation(socket);
      void (async () => {
        if (victimSide) return w.close();
        // Splice: open a connection to the victim and hand its challenge (its nonce) to the dialing leader,
        // under the name the leader dialed ("fake"; the leader refuses any other name).
        victimSide = dial(victim.raftAddr);
        const challenge = (await victimSide.next()) as ChallengeFrame;
        w.send({ ...challenge, nodeId: 'fake' });
        const frame = await w.next();
        if (typeof frame === 'object') captured.push(frame);
      })();
    });
    await new Promise<void>((r) => attacker.listen(port, '127.0.0.1', r));
    try {
      const add = await call(leaderUrl, 'POST', '/v1/members', admin, {
        nodeId: 'fake',
        raftAddr: `127.0.0.1:${port}`,
        httpUrl: `http://127.0.0.1:${port}`,
      });
      expect(add.status).toBe(200);
      const deadline = Date.now() + 10_000;
      while (captured.length === 0 && Date.now() < deadline) await sleep(50);
      const leaderHello = captured[0] as HelloFrame;
      expect(leaderHello).toMatchObject({ kind: FrameKind.HELLO, nodeId: leaderId, proof: expect.any(String) });

      // Relay: the leader's genuine hello, answering the victim's own nonce, on the victim's connection. It
      // binds listener "fake", not the victim, so the victim refuses it.
      victimSide!.send(leaderHello);
      expect(await victimSide!.next()).toBe('closed');
      // Replay on fresh connections: a new nonce each time.
      for (let i = 0; i < 2; i++) {
        const relay = dial(victim.raftAddr);
        await relay.next();
        relay.send(leaderHello);
        expect(await relay.next()).toBe('closed');
      }
      // The victim is still in the cluster and following the real leader.
      const st = await cluster.status(victim.id);
      expect(st.leaderId).toBe(leaderId);
    } finally {
      attacker.close();
      await call(leaderUrl, 'DELETE', '/v1/members/fake', admin);
    }
    const log = readFileSync(join(cluster.dir, `${victim.id}.log`), 'utf8');
    expect(log).toContain('wrong proof');
  });

  test('a forged snapshot from an authenticated peer is refused; the follower ledger is unchanged', async () => {
    const leaderId = await cluster.leaderId();
    const leader = cluster.node(leaderId);
    const follower = cluster.nodes.find((n) => n.id !== leaderId)!;
    const third = cluster.nodes.find((n) => n.id !== leaderId && n.id !== follower.id)!;
    await cluster.waitConverged();
    const before = await call(follower.httpUrl, 'GET', '/v1/positions', reader);
    const st = await cluster.status(follower.id);
    const logBefore = readFileSync(join(cluster.dir, `${follower.id}.log`), 'utf8').length;
    // The compromised peer claims to be the leader (it holds the peer key) and uses the real transport.
    const transport = new Transport({
      self: { nodeId: leaderId, raftAddr: leader.raftAddr, httpUrl: leader.httpUrl },
      bindHost: '127.0.0.1',
      bindPort: await freePort(),
      limits: { maxConnections: 4, maxPerAddress: 4, firstMessageTimeoutMs: 2_000 },
      keys: peerKeys([SECRET]),
      clusterId: () => CLUSTER_ID,
      chaos: new Chaos({ enabled: false, dropPct: 0, delayMinMs: 0, delayMaxMs: 0, seed: 1, exitOnLeader: false }, 'x'),
      logger: createLogger('forger', 'error'),
      resolve: () => follower.raftAddr,
      onMessages: () => undefined,
      onPeerHello: () => undefined,
    });
    // Forged snapshot files in the real stream format, each sent as one chunk of the real transfer protocol.
    const dir = mkdtempSync(join(tmpdir(), 'forged-snapshot-'));
    const meta = {
      index: st.commitIndex + 1_000,
      term: st.term,
      config: { voters: [leaderId, follower.id], learners: [] },
    };
    // A well-formed ledger holding an order nobody placed: only the checks around it can refuse it.
    const forgedLedger = new LedgerStateMachine();
    const evilOrder = {
      orderId: 'evil-1',
      account: 'evil',
      symbol: 'AAPL',
      side: 'BUY' as const,
      quantity: 1,
      price: 1,
    };
    forgedLedger.apply(encodeCommand({ type: 'order', order: evilOrder }), 1);
    const evil = [...forgedLedger.snapshotRecords()];
    const chunk = (
      name: string,
      clusterId: string | null,
      records: string[],
      over: Partial<SnapshotChunkMessage> = {},
    ) => {
      const file = join(dir, name);
      const info = writeSnapshotFile(file, { clusterId, ...meta, members: {} }, records);
      const bytes = readFileSync(file);
      return {
        type: 'SnapshotChunk',
        from: leaderId,
        to: follower.id,
        term: st.term,
        clusterId: clusterId ?? '',
        meta,
        sha256: info.sha256,
        bytes: bytes.length,
        offset: 0,
        data: bytes,
        done: true,
        ...over,
      } as SnapshotChunkMessage;
    };
    try {
      transport.send([
        chunk('foreign', 'another-cluster', evil),
        chunk('tampered', CLUSTER_ID, evil, { sha256: 'ab'.repeat(32) }),
        chunk('unrestorable', CLUSTER_ID, ['{"not":"a ledger"}']),
      ]);
      await sleep(1_500);
      // What the real transport cannot produce, by hand on authenticated connections: a chunk cut short, and
      // messages from another node (a higher term that would depose the leader). Each drops its connection.
      const unsealed = encodePeerFrame({
        kind: FrameKind.MESSAGES,
        from: leaderId,
        to: follower.id,
        messages: [chunk('unsealed', CLUSTER_ID, evil)],
      }).subarray(4);
      const heartbeat = { type: 'Heartbeat', from: third.id, to: follower.id, term: st.term + 5 } as const;
      const forgeries = [
        encodeRawFrame(unsealed.subarray(0, unsealed.length - 10)),
        encodePeerFrame({
          kind: FrameKind.MESSAGES,
          from: third.id,
          to: follower.id,
          messages: [{ ...heartbeat, commit: 0, context: null }],
        }),
      ];
      for (const forged of forgeries) {
        const w = dial(follower.raftAddr);
        w.send(hello(await w.next(), leader, (b) => dialProof(derivePeerKey(SECRET), b)).frame);
        expect(await w.next()).toMatchObject({ kind: FrameKind.WELCOME });
        w.sendRaw(forged);
        expect(await w.next()).toBe('closed');
      }
    } finally {
      await transport.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // Only the lines written since the forgery (the follower may have installed a genuine snapshot when it joined).
    const log = readFileSync(join(cluster.dir, `${follower.id}.log`), 'utf8').slice(logBefore);
    expect(log).toContain(`snapshot is from cluster another-cluster, not ${CLUSTER_ID}`);
    expect(log).toContain('checksum mismatch');
    expect(log).toContain('invalid ledger snapshot');
    expect(log).not.toContain('received snapshot');
    expect(log).not.toContain('installed snapshot');
    expect(log).toContain('message cut short reading SnapshotChunk message 0 data');
    expect(log).toContain(`messages from ${third.id} on ${leaderId}'s connection`);
    expect((await cluster.status(follower.id)).term).toBe(st.term);
    const after = await call(follower.httpUrl, 'GET', '/v1/positions', reader);
    expect(after).toEqual(before);
    expect(JSON.stringify(after.body)).not.toContain('evil');
    // The cluster still works and the follower keeps up.
    const order = { orderId: 'pa-2', account: 'acct', symbol: 'AAPL', side: 'BUY', quantity: 1, price: 10 };
    expect((await call(leaderUrl, 'POST', '/v1/orders', writer, order)).status).toBe(200);
    await cluster.waitConverged();
  });

  test("a function's scoped key places orders and reads, and can mint nothing else", async () => {
    const clientKey = encodeScopedKey(scopedKey(SECRET, 'orders:write'));
    const client = createLedgerClient({ members: cluster.httpUrls, clientKey });
    try {
      const order = { orderId: 'pa-3', account: 'acct', symbol: 'AAPL', side: 'BUY' as const, quantity: 1, price: 10 };
      expect(await client.applyOrder(order)).toMatchObject({ status: 'ACCEPTED' });
      expect((await client.positions()).length).toBeGreaterThan(0);
    } finally {
      client.close();
    }
    // The execute/api wiring: a key of the wrong scope is refused at first use, naming both scopes.
    const settings = { RAFT_MEMBERS: cluster.httpUrls, RAFT_CLIENT_KEY: encodeScopedKey(scopedKey(SECRET, 'read')) };
    await expect(lazyLedgerClient(settings, () => undefined as never, 'orders:write')()).rejects.toThrow(
      'RAFT_CLIENT_KEY has scope read; this function needs orders:write',
    );
  });

  test('expired tokens get 401; the previous key works during a rotation and not after it', async () => {
    const n2 = cluster.node('n2');
    const expired = `Bearer ${mintToken(scopedKey(SECRET, 'read'), -600)}`;
    expect(await call(n2.httpUrl, 'GET', '/v1/status', expired)).toEqual({
      status: 401,
      body: { error: 'bearer token expired' },
    });
    const tooLong = `Bearer ${mintToken(scopedKey(SECRET, 'read'), 30 * 86_400)}`;
    expect((await call(n2.httpUrl, 'GET', '/v1/status', tooLong)).status).toBe(401);
    const previous = bearerFor(OLD, 'read');
    expect((await call(n2.httpUrl, 'GET', '/v1/status', previous)).status).toBe(200);

    // Rotation ends on n2: restarted without RAFT_AUTH_SECRET_PREVIOUS.
    await cluster.kill('n2', 'SIGTERM');
    n2.ownEnv.RAFT_AUTH_SECRET_PREVIOUS = ''; // empty counts as unset
    await cluster.restart('n2');
    expect(await call(n2.httpUrl, 'GET', '/v1/status', previous)).toEqual({
      status: 401,
      body: { error: 'bearer token signed with an unknown or retired key' },
    });
    expect((await call(n2.httpUrl, 'GET', '/v1/status', reader)).status).toBe(200);
    // Peers still authenticate it (they sign with the current secret): n2 catches up.
    await cluster.waitConverged(20_000);
  });
});

describe('RAFT_PEER_SECRET', () => {
  const PEER = 'nodes-only-peer-secret-0123456789';
  let cluster: RaftCluster;
  beforeAll(async () => {
    cluster = await startRaftCluster({ secret: SECRET, env: { RAFT_PEER_SECRET: PEER, RAFT_CLUSTER_ID: CLUSTER_ID } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  test('the nodes form a cluster on it, and a key derived from RAFT_AUTH_SECRET is no longer a peer key', async () => {
    const [n1, , n3] = cluster.nodes;
    const attempt = async (secret: string) => {
      const w = dial(n3!.raftAddr);
      const challenge = (await w.next()) as ChallengeFrame;
      const b: DialBinding = {
        clusterId: CLUSTER_ID,
        dialerId: n1!.id,
        listenerId: challenge.nodeId,
        raftAddr: n1!.raftAddr,
        httpUrl: n1!.httpUrl,
        listenerNonce: challenge.nonce,
        dialerNonce: newNonce(),
        timestamp: Date.now(),
      };
      const proof = dialProof(derivePeerKey(secret), b);
      w.send({
        kind: FrameKind.HELLO,
        version: PEER_PROTOCOL_VERSION,
        nodeId: b.dialerId,
        raftAddr: b.raftAddr,
        httpUrl: b.httpUrl,
        nonce: b.dialerNonce,
        timestamp: b.timestamp,
        proof,
      });
      const answer = await w.next();
      w.close();
      return answer;
    };
    expect(await attempt(SECRET)).toBe('closed');
    expect(await attempt(PEER)).toMatchObject({ kind: FrameKind.WELCOME });
  });
});
