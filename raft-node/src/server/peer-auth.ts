import { createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual, deriveKey } from '../../../shared/ledger-contract/auth';

/**
 * The mutual node-to-node handshake. Peers prove knowledge of the PEER key, derived from the root secret under
 * its own HKDF label (or from RAFT_PEER_SECRET), so a client token — signed with a different derived key —
 * never passes as a peer proof, and a peer proof never passes as a client token.
 *
 *   listener → dialer   challenge {listener id, listener nonce}
 *   dialer   → listener hello     {dialer id, addresses, dialer nonce, timestamp, proof_D}
 *   listener → dialer   welcome   {proof_L}
 *
 * proof_D = HMAC(peerKey, "dial" | cluster | dialer id | listener id | dialer raft addr | dialer http url |
 *                         listener nonce | dialer nonce | timestamp)
 * proof_L = HMAC(peerKey, "accept" | cluster | listener id | dialer id | listener nonce | dialer nonce)
 *
 * Binding both ids defeats the relay of finding 1 (a node's answer to a challenge it received while dialing
 * node X is useless at node Y); the listener's fresh nonce makes every recorded hello worthless on another
 * connection; the timestamp window bounds how long a hello is usable at all; the dialer sends no Raft traffic
 * until proof_L checks out, so it never talks to an impostor listener. What this does NOT give is a protected
 * channel: traffic after the handshake is plaintext TCP, so an on-path attacker can still read or inject; that
 * needs TLS (or a per-frame MAC keyed from this handshake) and is tracked in docs/security.md.
 */

export const HANDSHAKE_WINDOW_MS = 30_000;

export interface PeerKeys {
  /** Signs outgoing proofs. */
  current: Buffer;
  /** Also accepted on incoming proofs (a rotation in progress). */
  accepted: Buffer[];
}

export function derivePeerKey(secret: string): Buffer {
  return deriveKey(secret, 'raft-ledger/peer/v2');
}

export function peerKeys(secrets: string[]): PeerKeys | undefined {
  if (secrets.length === 0) return undefined;
  const keys = secrets.map(derivePeerKey);
  return { current: keys[0]!, accepted: keys };
}

export function newNonce(): string {
  return randomBytes(24).toString('base64url');
}

export interface DialBinding {
  clusterId: string;
  dialerId: string;
  listenerId: string;
  raftAddr: string;
  httpUrl: string;
  listenerNonce: string;
  dialerNonce: string;
  timestamp: number;
}

function mac(key: Buffer, parts: (string | number)[]): string {
  // Lengths before each part: no two different field lists hash the same string.
  return createHmac('sha256', key)
    .update(parts.map((p) => `${String(p).length}:${p}`).join('|'))
    .digest('base64url');
}

export function dialProof(key: Buffer, b: DialBinding): string {
  return mac(key, [
    'dial',
    b.clusterId,
    b.dialerId,
    b.listenerId,
    b.raftAddr,
    b.httpUrl,
    b.listenerNonce,
    b.dialerNonce,
    b.timestamp,
  ]);
}

export function acceptProof(key: Buffer, b: DialBinding): string {
  return mac(key, ['accept', b.clusterId, b.listenerId, b.dialerId, b.listenerNonce, b.dialerNonce]);
}

/** The key that verifies `proof`, or why none does. */
export function verifyDial(
  keys: PeerKeys,
  b: DialBinding,
  proof: unknown,
  nowMs = Date.now(),
): { ok: true; key: Buffer } | { ok: false; reason: string } {
  if (typeof proof !== 'string') return { ok: false, reason: 'no proof' };
  if (Math.abs(nowMs - b.timestamp) > HANDSHAKE_WINDOW_MS)
    return { ok: false, reason: 'hello outside the time window' };
  const key = keys.accepted.find((k) => constantTimeEqual(proof, dialProof(k, b)));
  return key ? { ok: true, key } : { ok: false, reason: 'wrong proof' };
}

export function verifyAccept(keys: PeerKeys, b: DialBinding, proof: unknown): boolean {
  return typeof proof === 'string' && keys.accepted.some((k) => constantTimeEqual(proof, acceptProof(k, b)));
}
