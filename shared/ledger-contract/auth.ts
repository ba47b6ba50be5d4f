import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Client credentials of the Raft ledger's HTTP API: scoped, expiring, signed bearer tokens.
 *
 *   token = base64url(JSON {scp, exp, kid}) "." base64url(HMAC-SHA256(scopeKey, first part))
 *
 * Each scope has its own signing key, derived from the cluster's root secret (RAFT_AUTH_SECRET) with HKDF and a
 * label naming the scope. A holder of the root secret (nodes, operator tools, local launchers) can mint any
 * scope; a function is given only its scope's key (a "scoped key", see encodeScopedKey) and so can mint only
 * tokens of that scope, and only short-lived ones (the nodes refuse lifetimes beyond MAX_TOKEN_TTL_S).
 * `kid` names the root secret a token was signed under, so nodes can accept the previous secret during a
 * rotation (RAFT_AUTH_SECRET_PREVIOUS) and refuse it afterwards.
 *
 * Hand-written rather than JWT: `jose` is not a dependency, and this is one HMAC over a fixed three-field
 * payload with no algorithm negotiation (nothing like JWT's `alg: none` to get wrong). Peer (node-to-node)
 * keys are derived with a different HKDF label (raft-node/src/server/peer-auth.ts), so a client token is never
 * a peer proof and a peer key never signs a client token.
 */

export const SCOPES = ['orders:write', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Longest lifetime a node accepts; the minting side renews well before expiry. */
export const MAX_TOKEN_TTL_S = 3_600;
/** Default lifetime of a minted token. */
export const DEFAULT_TOKEN_TTL_S = 300;
/** Clock skew tolerated between the minting host and the node. */
const CLOCK_SKEW_S = 60;
const MAX_TOKEN_CHARS = 512;
const MAX_VERIFIED_TOKENS = 4_096;

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** HKDF-SHA256 of the root secret under a label: one home for every key derived from RAFT_AUTH_SECRET. */
export function deriveKey(secret: string, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'raft-ledger', label, 32));
}

/** Which root secret a key descends from, without revealing it. */
export function keyId(secret: string): string {
  return deriveKey(secret, 'raft-ledger/kid/v1').toString('base64url').slice(0, 10);
}

/** A key that mints tokens of one scope only. */
export interface ScopedKey {
  scope: Scope;
  kid: string;
  key: Buffer;
}

export function scopedKey(secret: string, scope: Scope): ScopedKey {
  return { scope, kid: keyId(secret), key: deriveKey(secret, `raft-ledger/client/${scope}/v1`) };
}

/** The text form handed to a function (RAFT_CLIENT_KEY): `scope.kid.key`. */
export function encodeScopedKey(k: ScopedKey): string {
  return `${k.scope}.${k.kid}.${k.key.toString('base64url')}`;
}

export function decodeScopedKey(text: string): ScopedKey {
  const [scope, kid, key, ...rest] = text.trim().split('.');
  if (!isScope(scope) || !kid || !key || rest.length > 0) {
    throw new Error(`RAFT_CLIENT_KEY: expected <scope>.<kid>.<key> with scope one of ${SCOPES.join(', ')}`);
  }
  const bytes = Buffer.from(key, 'base64url');
  if (bytes.length !== 32) throw new Error('RAFT_CLIENT_KEY: the key part must be 32 bytes of base64url');
  return { scope, kid, key: bytes };
}

function sign(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

export function mintToken(k: ScopedKey, ttlSeconds = DEFAULT_TOKEN_TTL_S, nowMs = Date.now()): string {
  const payload = Buffer.from(
    JSON.stringify({ scp: k.scope, exp: Math.floor(nowMs / 1000) + ttlSeconds, kid: k.kid }),
  ).toString('base64url');
  return `${payload}.${sign(k.key, payload)}`;
}

/** Constant-time comparison; hashing first makes both sides the same length, so length leaks nothing. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Mints and caches bearer headers, renewing a token once half its life is gone: a long-running process (a warm
 * Lambda container, the local launcher) never sends an expired one.
 */
export class TokenSource {
  private readonly keys: Map<Scope, ScopedKey>;
  private readonly cache = new Map<Scope, { header: string; renewAtMs: number }>();

  /** From the root secret (any scope) or from one scoped key (its scope only). */
  constructor(
    credential: { secret: string } | { key: ScopedKey },
    private readonly ttlSeconds = DEFAULT_TOKEN_TTL_S,
  ) {
    this.keys =
      'secret' in credential
        ? new Map(SCOPES.map((s) => [s, scopedKey(credential.secret, s)]))
        : new Map([[credential.key.scope, credential.key]]);
  }

  /** The header for a request needing `scope`; a read can use any scope's token. */
  header(scope: Scope): string {
    const k = this.keys.get(scope) ?? (scope === 'read' ? this.keys.values().next().value : undefined);
    if (!k) throw new Error(`this credential can mint only ${[...this.keys.keys()].join(', ')} tokens, not ${scope}`);
    const now = Date.now();
    const cached = this.cache.get(k.scope);
    if (cached && cached.renewAtMs > now) return cached.header;
    const header = `Bearer ${mintToken(k, this.ttlSeconds, now)}`;
    this.cache.set(k.scope, { header, renewAtMs: now + (this.ttlSeconds * 1000) / 2 });
    return header;
  }
}

/** One freshly minted bearer header, for short-lived tools; long-running holders use a TokenSource. */
export function bearerFor(secret: string, scope: Scope, ttlSeconds = DEFAULT_TOKEN_TTL_S): string {
  return `Bearer ${mintToken(scopedKey(secret, scope), ttlSeconds)}`;
}

/** The scope an HTTP route of a node needs: reads need any valid token; writes and admin their own scope. */
export function requiredScope(method: string, path: string): Scope {
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (method === 'POST' && (path === '/v1/orders' || path === '/v1/orders/batch' || path === '/v1/orders/cancel')) {
    return 'orders:write';
  }
  return 'admin';
}

export type TokenVerdict = { ok: true; scope: Scope } | { ok: false; status: 401 | 403; reason: string };

const deny = (reason: string): TokenVerdict => ({ ok: false, status: 401, reason });

/**
 * Checks a bearer header for a request needing `needed`, against the keys of the current and (during a
 * rotation) previous root secret. 401 names why the credential is not valid; 403 names the scope needed.
 */
export class TokenVerifier {
  private readonly byKid = new Map<string, Map<Scope, Buffer>>();
  /**
   * Tokens whose signature already checked out. A client sends the same token for minutes, and a full check
   * (decode, parse, HMAC) costs tens of µs per request on the order path; a hit costs a map lookup. Only the
   * signature is cached: expiry and scope are judged on every request. Bounded; cleared when full.
   */
  private readonly verified = new Map<string, { scp: Scope; exp: number }>();

  constructor(secrets: string[]) {
    for (const secret of secrets) {
      this.byKid.set(keyId(secret), new Map(SCOPES.map((s) => [s, scopedKey(secret, s).key])));
    }
  }

  check(header: string | undefined, needed: Scope, nowMs = Date.now()): TokenVerdict {
    if (!header?.startsWith('Bearer ')) return deny('missing bearer token');
    const token = header.slice('Bearer '.length).trim();
    if (token.length > MAX_TOKEN_CHARS) return deny('bearer token too long');
    const known = this.verified.get(token);
    if (known) return this.judge(known.scp, known.exp, needed, nowMs);
    const [payload, signature, ...rest] = token.split('.');
    if (!payload || !signature || rest.length > 0) return deny('malformed bearer token');
    let claims: { scp?: unknown; exp?: unknown; kid?: unknown };
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return deny('malformed bearer token');
    }
    const { scp, exp, kid } = claims ?? {};
    if (!isScope(scp) || typeof exp !== 'number' || typeof kid !== 'string') return deny('malformed bearer token');
    const key = this.byKid.get(kid)?.get(scp);
    if (!key) return deny('bearer token signed with an unknown or retired key');
    if (!constantTimeEqual(signature, sign(key, payload))) return deny('invalid bearer token signature');
    if (this.verified.size >= MAX_VERIFIED_TOKENS) this.verified.clear();
    this.verified.set(token, { scp, exp });
    return this.judge(scp, exp, needed, nowMs);
  }

  private judge(scp: Scope, exp: number, needed: Scope, nowMs: number): TokenVerdict {
    const now = Math.floor(nowMs / 1000);
    if (exp <= now - CLOCK_SKEW_S) return deny('bearer token expired');
    if (exp > now + MAX_TOKEN_TTL_S + CLOCK_SKEW_S) return deny(`bearer token lives longer than ${MAX_TOKEN_TTL_S} s`);
    if (needed !== 'read' && scp !== needed) {
      return { ok: false, status: 403, reason: `token scope ${scp} does not allow this; it needs scope ${needed}` };
    }
    return { ok: true, scope: scp };
  }
}
