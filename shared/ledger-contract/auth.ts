import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Credentials derived from the cluster's shared secret (RAFT_AUTH_SECRET). The secret itself never
 * travels: clients send an HMAC-derived bearer token, and nodes prove knowledge of the secret to each
 * other with an HMAC over a fresh per-connection challenge, so a recorded handshake cannot be replayed.
 */

const API_TOKEN_LABEL = 'raft-ledger/api/v1';
const PEER_LABEL = 'raft-ledger/peer/v1';

/** The bearer token for the HTTP API: base64url(HMAC-SHA256(secret, label)). */
export function deriveApiToken(secret: string): string {
  return createHmac('sha256', secret).update(API_TOKEN_LABEL).digest('base64url');
}

/** Constant-time comparison; hashing first makes both sides the same length, so length leaks nothing. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Checks an `Authorization` header value against the secret's token. */
export function isAuthorizedHeader(header: string | undefined, secret: string): boolean {
  if (!header || !header.startsWith('Bearer ')) return false;
  return constantTimeEqual(header.slice('Bearer '.length).trim(), deriveApiToken(secret));
}

export function newChallenge(): string {
  return randomBytes(24).toString('base64url');
}

/** The dialing node's answer to a listener's challenge; binds the claimed node id to this connection. */
export function peerProof(secret: string, challenge: string, nodeId: string): string {
  return createHmac('sha256', secret).update(`${PEER_LABEL}|${challenge}|${nodeId}`).digest('base64url');
}

export function verifyPeerProof(secret: string, challenge: string, nodeId: string, proof: string): boolean {
  return constantTimeEqual(proof, peerProof(secret, challenge, nodeId));
}
