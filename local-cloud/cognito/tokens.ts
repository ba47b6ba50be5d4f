import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { SignJWT, type JSONWebKeySet } from 'jose';

/**
 * The tokens the local user pools issue, shaped like Cognito's: RS256 JWTs signed by the pool's own key (named by
 * `kid` in the header and in the pool's JWKS), iss `https://cognito-idp.<region>.amazonaws.com/<poolId>`, an ID token
 * for the app client (aud) carrying the user's attributes and groups, and an access token for the user pool API
 * (client_id, scope aws.cognito.signin.user.admin). Verifiers (API Gateway's JWT authorizer, jose) cannot tell them
 * from Cognito's, except that the keys are local.
 */

/** A pool's signing key: the private half as a JWK (kept in the cloud's state so tokens outlive a restart). */
export interface SigningKey {
  kid: string;
  privateJwk: JsonWebKey;
}

export const ACCESS_TOKEN_SCOPE = 'aws.cognito.signin.user.admin';

/** Cognito's issuer for a pool: its region is the pool id's prefix (`us-east-1_AbC123xyz`). */
export function issuerOf(poolId: string): string {
  return `https://cognito-idp.${poolId.slice(0, poolId.indexOf('_'))}.amazonaws.com/${poolId}`;
}

/** The pool id of a Cognito issuer URL, or undefined when it is not one. */
export function poolIdOfIssuer(issuer: string): string | undefined {
  return /^https:\/\/cognito-idp\.([a-z0-9-]+)\.amazonaws\.com\/(\1_[A-Za-z0-9]+)\/?$/.exec(issuer)?.[2];
}

/** An RSA-2048 key whose kid is its RFC 7638 thumbprint (stable, and unique per key). */
export function newSigningKey(): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateJwk = privateKey.export({ format: 'jwk' });
  const canonical = JSON.stringify({ e: privateJwk.e, kty: 'RSA', n: privateJwk.n });
  return { kid: createHash('sha256').update(canonical).digest('base64url'), privateJwk };
}

/** The public halves, as Cognito serves them at `<issuer>/.well-known/jwks.json`. */
export function publicJwks(keys: SigningKey[]): JSONWebKeySet {
  return {
    keys: keys.map(({ kid, privateJwk }) => ({
      alg: 'RS256',
      e: String(privateJwk.e),
      kid,
      kty: 'RSA',
      n: String(privateJwk.n),
      use: 'sig',
    })),
  };
}

export interface TokenSubject {
  username: string;
  sub: string;
  /** Every attribute of the user (email, custom:account, …) except sub. */
  attributes: Record<string, string>;
  groups: string[];
}

export interface TokenRequest {
  poolId: string;
  clientId: string;
  key: SigningKey;
  user: TokenSubject;
  /** When the user last authenticated with a password (kept across refreshes), epoch seconds. */
  authTime: number;
  /** The id of the sign-in this token descends from (Cognito's origin_jti: one per password authentication). */
  originJti: string;
  /** Epoch seconds. */
  now: number;
  idTokenSeconds: number;
  accessTokenSeconds: number;
}

/** The ID and access tokens of one authentication (or refresh). */
export async function mintTokens(req: TokenRequest): Promise<{ idToken: string; accessToken: string }> {
  const signingKey = createPrivateKey({ key: req.key.privateJwk, format: 'jwk' });
  const eventId = randomUUID();
  const groups = req.user.groups.length > 0 ? { 'cognito:groups': req.user.groups } : {};
  const common = {
    sub: req.user.sub,
    ...groups,
    iss: issuerOf(req.poolId),
    origin_jti: req.originJti,
    event_id: eventId,
    auth_time: req.authTime,
    iat: req.now,
  };
  const sign = (claims: Record<string, unknown>, seconds: number) =>
    new SignJWT({ ...claims, exp: req.now + seconds, jti: randomUUID() })
      .setProtectedHeader({ kid: req.key.kid, alg: 'RS256' })
      .sign(signingKey);
  const [idToken, accessToken] = await Promise.all([
    sign(
      {
        ...req.user.attributes,
        ...common,
        'cognito:username': req.user.username,
        aud: req.clientId,
        token_use: 'id',
      },
      req.idTokenSeconds,
    ),
    sign(
      {
        ...common,
        client_id: req.clientId,
        token_use: 'access',
        scope: ACCESS_TOKEN_SCOPE,
        username: req.user.username,
      },
      req.accessTokenSeconds,
    ),
  ]);
  return { idToken, accessToken };
}
