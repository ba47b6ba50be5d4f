import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import type { JSONWebKeySet } from 'jose';
import { LOCAL_ACCOUNT } from './events';
import { NodeSha256 } from '../../shared/aws/sha256';

/*
 * The three ways an API Gateway route is authorized locally — JWT (jose), IAM (SigV4 recomputed with the SDK's own
 * signer) and Lambda REQUEST authorizers' IAM policies — each answering with API Gateway's status and body.
 */

export interface Refusal {
  status: 401 | 403 | 500;
  message: string;
  headers?: Record<string, string>;
}

export const UNAUTHORIZED: Refusal = { status: 401, message: 'Unauthorized' };
export const FORBIDDEN: Refusal = { status: 403, message: 'Forbidden' };

export type Authorized = { ok: true; authorizer: Record<string, unknown> } | { ok: false; refusal: Refusal };

/** Where a JWT issuer's keys come from: a local IdP answers for its own issuers, undefined means "fetch them". */
export type JwksResolver = (issuer: string) => Promise<JSONWebKeySet | undefined>;

type Jose = typeof import('jose');
/** jose is ESM-only; loaded once, on the first JWT checked. */
let jose: Promise<Jose> | undefined;
const loadJose = () => (jose ??= import('jose'));

/**
 * An identity source value: `$request.header.X`, `$request.querystring.q` (HTTP APIs) or `route.request.header.X`
 * / `route.request.querystring.q` (WebSocket); header names are case-insensitive.
 */
export function identityValue(
  source: string,
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
): string | undefined {
  const m = /^(?:\$request|route\.request)\.(header|querystring)\.(.+)$/.exec(source.trim());
  if (!m?.[1] || !m[2]) return undefined;
  if (m[1] === 'querystring') return query.get(m[2]) ?? undefined;
  const v = headers[m[2].toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
}

/** AWS hands JWT claims to the integration as strings; arrays become `[a b]`. */
function claimString(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(claimString).join(' ')}]`;
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
}

export class JwtVerifier {
  private readonly remote = new Map<string, ReturnType<Jose['createRemoteJWKSet']>>();

  constructor(private readonly resolveJwks: JwksResolver = async () => undefined) {}

  /** Verifies the bearer token of an HTTP API JWT authorizer: signature (JWKS), iss, aud/client_id, exp/nbf, scopes. */
  async verify(
    token: string | undefined,
    config: { issuer: string; audience: string[] },
    scopes: string[],
  ): Promise<Authorized> {
    const bare = token?.replace(/^Bearer\s+/i, '').trim();
    if (!bare) return { ok: false, refusal: UNAUTHORIZED };
    const { jwtVerify, createLocalJWKSet, createRemoteJWKSet } = await loadJose();
    const local = await this.resolveJwks(config.issuer);
    let remote = this.remote.get(config.issuer);
    if (!local && !remote) {
      remote = createRemoteJWKSet(new URL(`${config.issuer.replace(/\/$/, '')}/.well-known/jwks.json`));
      this.remote.set(config.issuer, remote);
    }
    let claims: Record<string, unknown>;
    try {
      const keys = local ? createLocalJWKSet(local) : (remote as NonNullable<typeof remote>);
      claims = (await jwtVerify(bare, keys, { issuer: config.issuer })).payload;
    } catch (err) {
      return { ok: false, refusal: invalidToken((err as Error).message) };
    }
    const aud = [claims.aud].flat().filter((a): a is string => typeof a === 'string');
    const clientId = typeof claims.client_id === 'string' ? claims.client_id : undefined;
    const audienceOk = config.audience.some((a) => aud.includes(a) || a === clientId);
    if (config.audience.length > 0 && !audienceOk) return { ok: false, refusal: invalidToken('invalid audience') };
    const granted = String(claims.scope ?? claims.scp ?? '')
      .split(' ')
      .filter(Boolean);
    if (scopes.length > 0 && !scopes.some((s) => granted.includes(s))) return { ok: false, refusal: FORBIDDEN };
    const stringClaims = Object.fromEntries(Object.entries(claims).map(([k, v]) => [k, claimString(v)]));
    return { ok: true, authorizer: { jwt: { claims: stringClaims, scopes: granted.length > 0 ? granted : null } } };
  }
}

function invalidToken(description: string): Refusal {
  return {
    ...UNAUTHORIZED,
    headers: { 'www-authenticate': `Bearer scope="" error="invalid_token" error_description="${description}"` },
  };
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const AUTH_HEADER =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=([0-9a-f]+)$/;
/** SigV4's allowed clock skew. */
const MAX_SKEW_MS = 15 * 60_000;

export interface SignedRequest {
  method: string;
  /** The path and query exactly as received. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Checks a SigV4 signature for `service` by signing the same request again with @smithy/signature-v4 (what the SDK
 * signs with) and the secret of the access key it names. `credentials` maps access key ids to secrets: the embedded
 * cloud's emulators accept any key, so the gateway verifies against the keys it is told (default test/test).
 */
export async function verifySigV4(
  req: SignedRequest,
  service: string,
  credentials: Record<string, string>,
  now = Date.now(),
): Promise<Authorized> {
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? AUTH_HEADER.exec(auth.trim()) : null;
  if (!m) return { ok: false, refusal: FORBIDDEN };
  const [, accessKey, , region, signedService, signedHeaders, signature] = m as unknown as string[];
  const secret = credentials[accessKey as string];
  if (secret === undefined)
    return { ok: false, refusal: { status: 403, message: 'The security token included in the request is invalid.' } };
  if (signedService !== service) return { ok: false, refusal: { status: 403, message: SIGNATURE_MISMATCH } };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!date)
    return {
      ok: false,
      refusal: {
        status: 403,
        message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
      },
    };
  const signingDate = new Date(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`);
  if (Math.abs(now - signingDate.getTime()) > MAX_SKEW_MS) {
    return {
      ok: false,
      refusal: {
        status: 403,
        message: `Signature expired: ${amzDate} is now earlier or later than the allowed 15 minutes.`,
      },
    };
  }
  const [path = '/', query = ''] = req.url.split('?');
  const headers: Record<string, string> = {};
  for (const h of (signedHeaders as string).split(';')) {
    const v = req.headers[h];
    if (v !== undefined) headers[h] = Array.isArray(v) ? v.join(',') : v;
  }
  const signer = new SignatureV4({
    service,
    region: region as string,
    credentials: { accessKeyId: accessKey as string, secretAccessKey: secret },
    sha256: NodeSha256,
    // The path is compared as the client signed it (API Gateway does not normalize it either).
    uriEscapePath: true,
  });
  const request: HttpRequest = {
    method: req.method,
    protocol: 'http:',
    hostname: String(req.headers.host ?? '').split(':')[0] ?? '',
    path,
    query: queryObject(query),
    headers,
    body: req.body,
  };
  const signed = await signer.sign(request, {
    signingDate,
    signableHeaders: new Set(Object.keys(headers)),
    unsignableHeaders: new Set(),
  });
  const expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers.authorization ?? ''))?.[1];
  if (expected !== signature) return { ok: false, refusal: { status: 403, message: SIGNATURE_MISMATCH } };
  return {
    ok: true,
    authorizer: {
      iam: {
        accessKey,
        accountId: LOCAL_ACCOUNT,
        callerId: accessKey,
        cognitoIdentity: null,
        principalOrgId: null,
        userArn: `arn:aws:iam::${LOCAL_ACCOUNT}:user/${accessKey}`,
        userId: accessKey,
      },
    },
  };
}

/** Query parameters as the signer takes them (repeated keys as lists), from the raw query string. */
function queryObject(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const prev = out[k];
    out[k] = prev === undefined ? v : [prev, v].flat();
  }
  return out;
}

interface PolicyStatement {
  Effect?: string;
  Action?: string | string[];
  Resource?: string | string[];
}

/** Does a resource pattern (with `*` and `?` wildcards) cover the ARN? */
function arnMatches(pattern: string, arn: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(arn);
}

/**
 * A Lambda authorizer's answer: the IAM policy response (explicit Deny wins, then an Allow of execute-api:Invoke on
 * the method ARN) or, with simple responses, `isAuthorized`. Context values become requestContext.authorizer.
 */
export function evaluateAuthorizerResponse(
  payload: unknown,
  methodArn: string,
  simple: boolean,
): { allowed: boolean; principalId?: string; context: Record<string, unknown> } | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const r = payload as {
    isAuthorized?: unknown;
    principalId?: unknown;
    policyDocument?: { Statement?: PolicyStatement[] | PolicyStatement };
    context?: Record<string, unknown>;
  };
  const context = r.context && typeof r.context === 'object' ? r.context : {};
  if (simple && typeof r.isAuthorized === 'boolean') return { allowed: r.isAuthorized, context };
  if (!r.policyDocument) return undefined;
  const statements = [r.policyDocument.Statement ?? []].flat();
  const covering = statements.filter((s) => {
    const actions = [s.Action ?? []].flat();
    const resources = [s.Resource ?? []].flat();
    return (
      actions.some((a) => arnMatches(a, 'execute-api:Invoke')) && resources.some((res) => arnMatches(res, methodArn))
    );
  });
  const allowed = covering.some((s) => s.Effect === 'Allow') && !covering.some((s) => s.Effect === 'Deny');
  return { allowed, ...(typeof r.principalId === 'string' ? { principalId: r.principalId } : {}), context };
}
