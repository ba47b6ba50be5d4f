import { createConnection, type Socket } from 'node:net';
import { FrameDecoder, NO_FRAME } from '../../shared/ledger-contract/framing';
import { decodePeerFrame, encodePeerFrame, type PeerFrame } from '../../raft-node/src/server/peer-wire';
import { sleep } from '../../shared/util/wait';

/**
 * A raw TCP conversation in the Raft peer protocol, for tests that play a peer (or an attacker on the network) by
 * hand: whole frames in, whole frames or raw bytes out.
 */
export function peerConversation(socket: Socket) {
  const decoder = new FrameDecoder();
  const frames: PeerFrame[] = [];
  let closed = false;
  socket.on('data', (c) => {
    decoder.append(c);
    for (let b = decoder.nextRaw(); b !== NO_FRAME; b = decoder.nextRaw()) frames.push(decodePeerFrame(b));
  });
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return {
    send: (f: PeerFrame) => socket.write(encodePeerFrame(f)),
    sendRaw: (b: Buffer) => socket.write(b),
    /** The next frame, or 'closed' once the other side hung up (or 'timeout'). */
    next: async (timeoutMs = 3_000): Promise<PeerFrame | 'closed' | 'timeout'> => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (frames.length > 0) return frames.shift()!;
        if (closed) return 'closed';
        await sleep(10);
      }
      return 'timeout';
    },
    close: () => socket.destroy(),
  };
}

export type RawPeer = ReturnType<typeof peerConversation>;

export function dialPeer(addr: string): RawPeer {
  const i = addr.lastIndexOf(':');
  return peerConversation(createConnection({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)) }));
}
