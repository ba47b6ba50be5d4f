/**
 * Who is calling, from what API Gateway's authorizer put in the event — the one place the product turns an
 * authorizer's output into a principal, and decides what that principal may do.
 *
 * - JWT authorizer (HTTP API, Cognito ID tokens): `requestContext.authorizer.jwt.claims`. The account comes
 *   from the `custom:account` claim and the roles from `cognito:groups` — never from the request body.
 *   API Gateway hands array claims to the function flattened as a string, `[admin trader]`; both shapes are read.
 * - Lambda authorizer (the WebSocket API's $connect): `requestContext.authorizer` carries the context our
 *   authorizer returned: `account`, `roles` (comma-separated), `sub`.
 * - IAM (SigV4) authorizer: `requestContext.authorizer.iam` — an operator or a service whose IAM policy allows
 *   `execute-api:Invoke` on the route; IAM decided, so it may act on any account and use operator routes.
 */
export const ROLES = ['admin', 'trader', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export type Principal =
  { kind: 'user'; subject: string; account: string; roles: Role[] } | { kind: 'iam'; arn: string };

/** Why no principal could be read; the caller answers 403 with this message. */
export class PrincipalError extends Error {}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** `["a","b"]`, `"[a b]"` (API Gateway's flattening), `"a,b"` or `"a"` → the known roles among them. */
export function parseRoles(value: unknown): Role[] {
  const items = Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : typeof value === 'string'
      ? value.replace(/^\[|\]$/g, '').split(/[\s,]+/)
      : [];
  return ROLES.filter((role) => items.includes(role));
}

function userPrincipal(fields: Json, roles: unknown, source: string): Principal {
  const subject = str(fields.sub);
  const account = str(fields['custom:account'] ?? fields.account);
  if (!subject) throw new PrincipalError(`${source} has no sub`);
  if (!account) throw new PrincipalError(`${source} has no account (custom:account); ask an admin to set it`);
  return { kind: 'user', subject, account, roles: parseRoles(roles) };
}

/** The principal of an API Gateway (HTTP API v2 or WebSocket) event; throws PrincipalError when there is none. */
export function principalFromEvent(event: unknown): Principal {
  const authorizer = obj(obj(obj(event)?.requestContext)?.authorizer);
  if (!authorizer) throw new PrincipalError('the request carries no authorizer result');
  const claims = obj(obj(authorizer.jwt)?.claims);
  if (claims) return userPrincipal(claims, claims['cognito:groups'], 'the token');
  const iam = obj(authorizer.iam);
  if (iam) {
    const arn = str(iam.userArn) ?? str(iam.callerId);
    if (!arn) throw new PrincipalError('the IAM authorizer result has no caller');
    return { kind: 'iam', arn };
  }
  // A Lambda authorizer's context: on HTTP APIs under `lambda`, on WebSocket APIs at the top level.
  const context = obj(authorizer.lambda) ?? authorizer;
  if (str(context.sub)) return userPrincipal(context, context.roles, 'the authorizer context');
  throw new PrincipalError('the authorizer result names no caller');
}

export const isAdmin = (p: Principal): boolean => p.kind === 'iam' || p.roles.includes('admin');

/** May `p` read the orders and positions of `account`? Its own account (any role), or any account as admin. */
export const canRead = (p: Principal, account: string): boolean =>
  isAdmin(p) || (p.kind === 'user' && p.account === account);

/** May `p` place or cancel orders for `account`? A trader on its own account; IAM services on any. */
export const canTrade = (p: Principal, account: string): boolean =>
  p.kind === 'iam' || (p.roles.includes('trader') && p.account === account);

/** Who did it, for audit lines. */
export const describePrincipal = (p: Principal): string =>
  p.kind === 'iam' ? p.arn : `${p.subject} (account ${p.account}, ${p.roles.join('+') || 'no role'})`;
