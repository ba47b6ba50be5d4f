import { poolIdOfIssuer } from './tokens';

/**
 * Where the local pools' keys are served. Cognito serves a pool's JWKS at `<issuer>/.well-known/jwks.json` on
 * cognito-idp.<region>.amazonaws.com; locally, as LocalStack does, at
 * `<edge>/_aws/cognito-idp/<poolId>/.well-known/jwks.json` always, and at `<edge>/<poolId>/.well-known/jwks.json`
 * when the request's Host is `cognito-idp.…` (a client resolving such a name to the edge).
 */

/** The function environment variable naming the JWKS a function verifies user-pool tokens with. */
export const USER_POOL_JWKS_URI = 'USER_POOL_JWKS_URI';

const JWKS_PATH = /^\/(?:_aws\/cognito-idp\/)?([\w-]+_[0-9a-zA-Z]+)\/\.well-known\/jwks\.json$/;

/** The pool whose JWKS an unsigned GET asks for, or undefined when the path (and Host) is not a JWKS one. */
export function jwksPoolId(path: string, host: string | undefined): string | undefined {
  const m = JWKS_PATH.exec(path);
  if (!m) return undefined;
  const underAws = path.startsWith('/_aws/cognito-idp/');
  return underAws || /^cognito-idp[.-]/i.test(host ?? '') ? m[1] : undefined;
}

export const localJwksUri = (endpoint: string, poolId: string) =>
  `${endpoint}/_aws/cognito-idp/${poolId}/.well-known/jwks.json`;

/**
 * A function's USER_POOL_JWKS_URI as synthesized (Cognito's, for a pool of this cloud once deployed) → the same
 * pool's keys on the edge; anything else is left as it is.
 */
export function localizeJwksUri(endpoint: string): (synthesized: string) => string {
  return (synthesized) => {
    const issuer = synthesized.replace(/\/\.well-known\/jwks\.json$/, '');
    const poolId = poolIdOfIssuer(issuer);
    return poolId ? localJwksUri(endpoint, poolId) : synthesized;
  };
}
