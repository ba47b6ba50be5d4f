import { createConnection } from 'node:net';
import { Chaos } from '../../../../raft-node/src/chaos';
import { parseConfig, type ChaosSettings } from '../../../../raft-node/src/config';
import type { HeartbeatMessage } from '../../../../raft-node/src/core';
import { createLogger } from '../../../../raft-node/src/logger';
import { encodeRawFrame } from '../../../../shared/ledger-contract/framing';
import { peerKeys } from '../../../../raft-node/src/server/peer-auth';
import {
  encodePeerFrame,
  FrameKind,
  PEER_PROTOCOL_VERSION,
  type PeerMessage,
} from '../../../../raft-node/src/server/peer-wire';
import { Transport } from '../../../../raft-node/src/server/transport';
import { freePort } from '../../../../local-cloud/emulators/child-service';
import { sleep, waitFor } from '../../../../shared/util/wait';
import { dialPeer } from '../../../support/raw-peer';

/**
 * The inter-node transport over real loopback sockets: batching, the HMAC handshake, chaos drops, and a connection
 * dropped for any frame that is malformed, oversized, or speaks for another node.
 */

const noChaos: ChaosSettings = {
  enabled: false,
  dropPct: 0,
  delayMinMs: 0,
  delayMaxMs: 0,
  seed: 1,
  exitOnLeader: false,
};
const logger = createLogger('test', 'error');

/**
 * freePort() releases the port before the transport binds it, so a parallel test file can take it first; the pair
 * is then set up again on new ports.
 */
async function pair(secrets: [string | undefined, string | undefined], chaos: ChaosSettings = noChaos) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pairOnFreePorts(secrets, chaos);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}

async function pairOnFreePorts(secrets: [string | undefined, string | undefined], chaos: ChaosSettings) {
  const ports = [await freePort(), await freePort()];
  const received: PeerMessage[][] = [[], []];
  const ids = ['a', 'b'];
  const transports = ids.map(
    (id, i) =>
      new Transport({
        self: { nodeId: id, raftAddr: `127.0.0.1:${ports[i]}`, httpUrl: 'http://127.0.0.1:1' },
        bindHost: '127.0.0.1',
        bindPort: ports[i]!,
        limits: parseConfig({ RAFT_NODE_ID: id, RAFT_PEERS: 'http://127.0.0.1:1' }).peerLimits,
        keys: peerKeys(secrets[i] ? [secrets[i]] : []),
        clusterId: () => 'test-cluster',
        chaos: new Chaos(chaos, id),
        logger,
        resolve: (peer) => `127.0.0.1:${ports[ids.indexOf(peer)]}`,
        onMessages: (ms) => received[i]!.push(...ms),
        onPeerHello: () => undefined,
      }),
  );
  const listening = await Promise.allSettled(transports.map((t) => t.listen()));
  const failed = listening.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(transports.map((t) => t.close().catch(() => undefined)));
    throw failed.reason;
  }
  return {
    a: transports[0]!,
    b: transports[1]!,
    ports,
    received,
    close: () => Promise.all(transports.map((t) => t.close())),
  };
}

/** Heartbeats numbered by their commit field. */
const msgs = (n: number, from = 'a', to = 'b'): HeartbeatMessage[] =>
  Array.from({ length: n }, (_, seq) => ({ from, to, type: 'Heartbeat', term: 1, commit: seq, context: null }));
const seqs = (ms: PeerMessage[]) => ms.map((m) => (m as HeartbeatMessage).commit);

describe('transport', () => {
  test('delivers every message in order, with the same secret on both ends', async () => {
    const p = await pair(['s'.repeat(32), 's'.repeat(32)]);
    try {
      p.a.send(msgs(1000));
      for (let i = 0; i < 100 && p.received[1]!.length < 1000; i++) await sleep(20);
      expect(seqs(p.received[1]!)).toEqual(seqs(msgs(1000)));
    } finally {
      await p.close();
    }
  });

  test('a node with a wrong secret cannot deliver anything', async () => {
    const p = await pair(['s'.repeat(32), 'x'.repeat(32)]);
    try {
      p.a.send(msgs(10));
      p.b.send(msgs(10, 'b', 'a'));
      await sleep(400);
      expect(p.received[0]).toEqual([]);
      expect(p.received[1]).toEqual([]);
    } finally {
      await p.close();
    }
  });

  test('a node without a secret cannot talk to one that has it', async () => {
    const p = await pair([undefined, 's'.repeat(32)]);
    try {
      p.a.send(msgs(10));
      await sleep(400);
      expect(p.received[1]).toEqual([]);
    } finally {
      await p.close();
    }
  });

  test('a node sends only for itself', async () => {
    const p = await pair([undefined, undefined]);
    try {
      p.a.send([{ from: 'c', to: 'b', type: 'Vote', term: 9, lastIndex: 0, lastTerm: 0, transfer: false }, ...msgs(1)]);
      // Sent in that order on one connection: once a's message is in, c's would have come before it.
      await waitFor('a message through the pair', 5_000, () => p.received[1]!.length > 0);
      expect(p.received[1]!.map((m) => m.from)).toEqual(['a']);
    } finally {
      await p.close();
    }
  });

  test('chaos drops about the configured share, reproducibly from the seed', async () => {
    const settings = { ...noChaos, enabled: true, dropPct: 30, seed: 1234 };
    const runs: number[] = [];
    for (let r = 0; r < 2; r++) {
      const p = await pair([undefined, undefined], settings);
      try {
        p.a.send(msgs(2000));
        await sleep(500);
        runs.push(p.received[1]!.length);
      } finally {
        await p.close();
      }
    }
    expect(runs[0]).toBe(runs[1]);
    expect(runs[0]).toBeGreaterThan(1200);
    expect(runs[0]).toBeLessThan(1600);
  });

  test('chaos aimed at another node leaves this pair alone; delay holds messages back', async () => {
    const aimed = await pair([undefined, undefined], { ...noChaos, enabled: true, dropPct: 100, targetNodeId: 'c' });
    try {
      aimed.a.send(msgs(50));
      // The first send also connects (handshake); wait for the messages rather than a fixed time.
      await waitFor('50 messages through the pair', 5_000, () => aimed.received[1]!.length >= 50);
      expect(aimed.received[1]).toHaveLength(50);
    } finally {
      await aimed.close();
    }
    const delayed = await pair([undefined, undefined], { ...noChaos, enabled: true, delayMinMs: 300, delayMaxMs: 300 });
    try {
      delayed.a.send(msgs(5));
      await sleep(150);
      expect(delayed.received[1]).toHaveLength(0);
      await sleep(400);
      expect(delayed.received[1]).toHaveLength(5);
    } finally {
      await delayed.close();
    }
  });
});

test('an unauthenticated peer cannot make the listener buffer a huge frame', async () => {
  const p = await pair(['s'.repeat(32), 's'.repeat(32)]);
  const port = Number((p.b as unknown as { opts: { self: { raftAddr: string } } }).opts.self.raftAddr.split(':')[1]);
  try {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        const header = Buffer.alloc(4);
        header.writeUInt32BE(100 * 1024 * 1024, 0);
        socket.write(header);
      });
      socket.resume();
      socket.on('close', () => resolve(true));
      socket.on('error', () => undefined);
      setTimeout(() => resolve(false), 2_000);
    });
    expect(closed).toBe(true);
  } finally {
    await p.close();
  }
});

/** A dialer that completes the open (keyless) handshake by hand as `as`, then writes whatever it is given. */
async function handshaken(port: number, as: string, version = PEER_PROTOCOL_VERSION) {
  const peer = dialPeer(`127.0.0.1:${port}`);
  const challenge = await peer.next();
  if (typeof challenge === 'string' || challenge.kind !== FrameKind.CHALLENGE) throw new Error('no challenge');
  const hello = { kind: FrameKind.HELLO, version, nodeId: as, raftAddr: 'x:1', httpUrl: 'http://x:2' } as const;
  peer.send({ ...hello, nonce: 'n', timestamp: Date.now(), proof: null });
  return { ...peer, welcome: await peer.next(), write: peer.sendRaw };
}

describe('frames after the handshake', () => {
  const heartbeat = msgs(1)[0]!;
  const bad: Record<string, Buffer> = {
    'speaks for another node': encodePeerFrame({ kind: FrameKind.MESSAGES, from: 'c', to: 'b', messages: [] }),
    'is addressed to another node': encodePeerFrame({ kind: FrameKind.MESSAGES, from: 'a', to: 'c', messages: [] }),
    'is not a frame of messages': encodePeerFrame({ kind: FrameKind.WELCOME, proof: null }),
    'does not decode (JSON, as an older node sent)': encodeRawFrame(Buffer.from('[{"type":"Heartbeat"}]')),
    'announces more than the frame limit': Buffer.from([0xff, 0xff, 0xff, 0xff]),
  };
  test.each(Object.keys(bad))('a frame that %s drops the connection; the frames before it arrived', async (what) => {
    const p = await pair([undefined, undefined]);
    const peer = await handshaken(p.ports[1]!, 'a');
    try {
      expect(peer.welcome).toEqual({ kind: FrameKind.WELCOME, proof: null });
      peer.write(encodePeerFrame({ kind: FrameKind.MESSAGES, from: 'a', to: 'b', messages: [heartbeat] }));
      peer.write(bad[what]!);
      peer.write(encodePeerFrame({ kind: FrameKind.MESSAGES, from: 'a', to: 'b', messages: [heartbeat] }));
      expect(await peer.next()).toBe('closed');
      expect(p.received[1]).toEqual([heartbeat]);
    } finally {
      peer.close();
      await p.close();
    }
  });

  test('a dialer speaking another protocol version is refused at the handshake', async () => {
    const p = await pair([undefined, undefined]);
    try {
      const peer = await handshaken(p.ports[1]!, 'a', PEER_PROTOCOL_VERSION + 1);
      expect(peer.welcome).toBe('closed');
    } finally {
      await p.close();
    }
  });
});
