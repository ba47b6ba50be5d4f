import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createJwtVerifier, createWsAuthorizer } from '../../../functions/ws-authorizer/app';
import { principalFromEvent } from '../../../shared/auth/principal';
import { createLogger } from '../../../shared/powertools';
import { fakeContext, wsAuthorizerEvent, wsEvent } from '../../support/lambda-events';

/**
 * The $connect authorizer with the real aws-jwt-verify against a JWKS served over a real socket: an RS256 key
 * made with jose, its public half at <issuer>/.well-known/jwks.json on 127.0.0.1, tokens signed like Cognito's
 * ID tokens (sub, aud = client id, token_use id, custom:account, cognito:groups).
 */
const AUDIENCE = 'client-123';
let server: Server;
let issuer: string;
let signingKey: CryptoKey;
let jwksFetches = 0;
const otherKey = generateKeyPair('RS256');

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  server = createServer((req, res) => {
    jwksFetches++;
    if (req.url !== '/pool/.well-known/jwks.json') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/pool`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

async function token(
  claims: Record<string, unknown> = {},
  options: { expiresIn?: string; key?: CryptoKey; kid?: string; audience?: string } = {},
) {
  return new SignJWT({ token_use: 'id', 'custom:account': 'A1', 'cognito:groups': ['trader'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'key-1' })
    .setSubject('user-1')
    .setIssuer(issuer)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(options.key ?? signingKey);
}

function authorizer(overrides: { issuer?: string; jwksUri?: string } = {}) {
  const logger = createLogger({
    POWERTOOLS_SERVICE_NAME: 'ws-authorizer',
    POWERTOOLS_METRICS_NAMESPACE: 'T',
    LOG_LEVEL: 'SILENT',
  });
  const verify = createJwtVerifier({
    JWT_ISSUER: overrides.issuer ?? issuer,
    JWT_AUDIENCE: AUDIENCE,
    USER_POOL_JWKS_URI: overrides.jwksUri,
  });
  return createWsAuthorizer({ verify, logger });
}
const authorize = (handler: ReturnType<typeof authorizer>, event: ReturnType<typeof wsAuthorizerEvent>) =>
  handler(event, fakeContext('ws-authorizer'));

describe('$connect authorizer', () => {
  it('allows a valid ID token (query parameter) with the context principal.ts reads on every route', async () => {
    const result = await authorize(authorizer(), wsAuthorizerEvent({ query: { token: await token() } }));
    expect(result.policyDocument.Statement).toEqual([
      {
        Action: 'execute-api:Invoke',
        Effect: 'Allow',
        Resource: 'arn:aws:execute-api:us-east-1:123456789012:ws123/live/$connect',
      },
    ]);
    expect(result.context).toEqual({ sub: 'user-1', account: 'A1', roles: 'trader' });
    const principal = principalFromEvent(
      wsEvent('MESSAGE', 'c1', { authorizer: result.context as Record<string, string> }),
    );
    expect(principal).toEqual({ kind: 'user', subject: 'user-1', account: 'A1', roles: ['trader'] });
  });

  it('takes the token from Sec-WebSocket-Protocol, and the JWKS from USER_POOL_JWKS_URI when set', async () => {
    const before = jwksFetches;
    const handler = authorizer({ jwksUri: `${issuer}/.well-known/jwks.json` });
    const headers = { 'Sec-WebSocket-Protocol': `trading, ${await token({ 'cognito:groups': ['viewer', 'admin'] })}` };
    const result = await authorize(handler, wsAuthorizerEvent({ headers }));
    expect(result.context).toEqual({ sub: 'user-1', account: 'A1', roles: 'admin,viewer' });
    expect(jwksFetches).toBe(before + 1);
    // The JWKS is cached: a second connection does not fetch it again.
    await authorize(handler, wsAuthorizerEvent({ headers }));
    expect(jwksFetches).toBe(before + 1);
  });

  it.each([
    ['no token', async () => ({})],
    ['an expired token', async () => ({ query: { token: await token({}, { expiresIn: '-1s' }) } })],
    ['another audience', async () => ({ query: { token: await token({}, { audience: 'other-client' }) } })],
    ['an access token', async () => ({ query: { token: await token({ token_use: 'access' }) } })],
    [
      'a token signed by another key',
      async () => ({ query: { token: await token({}, { key: (await otherKey).privateKey }) } }),
    ],
    ['a key id the JWKS does not have', async () => ({ query: { token: await token({}, { kid: 'key-2' }) } })],
    ['a garbled token', async () => ({ query: { token: 'a.b.c' } })],
  ])('refuses %s with Unauthorized (API Gateway answers 401)', async (_name, event) => {
    await expect(authorize(authorizer(), wsAuthorizerEvent(await event()))).rejects.toThrow(/^Unauthorized$/);
  });

  it('refuses a token from another issuer', async () => {
    const handler = authorizer({ issuer: `${issuer}-other`, jwksUri: `${issuer}/.well-known/jwks.json` });
    await expect(authorize(handler, wsAuthorizerEvent({ query: { token: await token() } }))).rejects.toThrow(
      /^Unauthorized$/,
    );
  });

  it('denies (403) a valid token without an account', async () => {
    const result = await authorize(
      authorizer(),
      wsAuthorizerEvent({ query: { token: await token({ 'custom:account': undefined }) } }),
    );
    expect(result.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny' });
    expect(result.context).toBeUndefined();
  });
});
