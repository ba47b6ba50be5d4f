import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { jwksPoolId, localizeJwksUri } from '../../../local-cloud/cognito/jwks';
import {
  checkPasswordPolicy,
  DEFAULT_POLICY,
  hashPassword,
  newClientId,
  newPoolId,
  passwordMatches,
} from '../../../local-cloud/cognito/store';
import {
  issuerOf,
  mintTokens,
  newSigningKey,
  poolIdOfIssuer,
  publicJwks,
  type TokenRequest,
} from '../../../local-cloud/cognito/tokens';

/** The local IdP's tokens and keys as verifiers see them (jose), and its pure rules: ids, issuers, passwords. */

const POOL = 'eu-west-1_AbCdEf123';
const key = newSigningKey();
const now = Math.floor(Date.now() / 1000);
const request: TokenRequest = {
  poolId: POOL,
  clientId: 'client0123456789abcdefghij',
  key,
  user: {
    username: 'trader-a1',
    sub: '2b1f6a4e-0000-4000-8000-000000000001',
    attributes: { email: 'a1@example.com', 'custom:account': 'A1' },
    groups: ['trader', 'viewer'],
  },
  authTime: now - 100,
  originJti: 'origin-1',
  now,
  idTokenSeconds: 3600,
  accessTokenSeconds: 1800,
};

describe('local Cognito tokens', () => {
  it('signs ID and access tokens with RS256 under the pool key’s kid, verifiable with its JWKS', async () => {
    const { idToken, accessToken } = await mintTokens(request);
    const jwks = createLocalJWKSet(publicJwks([key]));
    expect(decodeProtectedHeader(idToken)).toEqual({ alg: 'RS256', kid: key.kid });
    const { payload: id } = await jwtVerify(idToken, jwks, {
      issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123',
      audience: request.clientId,
    });
    expect(id).toMatchObject({
      sub: request.user.sub,
      token_use: 'id',
      'cognito:username': 'trader-a1',
      'cognito:groups': ['trader', 'viewer'],
      'custom:account': 'A1',
      email: 'a1@example.com',
      auth_time: now - 100,
      origin_jti: 'origin-1',
      iat: now,
      exp: now + 3600,
    });
    const { payload: access } = await jwtVerify(accessToken, jwks, { issuer: issuerOf(POOL) });
    expect(access).toMatchObject({
      token_use: 'access',
      client_id: request.clientId,
      scope: 'aws.cognito.signin.user.admin',
      username: 'trader-a1',
      exp: now + 1800,
    });
    expect(access.aud).toBeUndefined();
    expect(access['custom:account']).toBeUndefined();
    expect(id.jti).not.toBe(access.jti);
  });

  it('leaves cognito:groups out for a user in no group, as Cognito does', async () => {
    const { idToken } = await mintTokens({ ...request, user: { ...request.user, groups: [] } });
    const { payload } = await jwtVerify(idToken, createLocalJWKSet(publicJwks([key])));
    expect(payload).not.toHaveProperty('cognito:groups');
  });

  it('publishes only the public half of the key', () => {
    const [jwk] = publicJwks([key]).keys;
    expect(Object.keys(jwk ?? {}).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(newSigningKey().kid).not.toBe(key.kid);
  });

  it('refuses a token signed by another key, and an expired one', async () => {
    const { idToken } = await mintTokens({ ...request, key: newSigningKey() });
    await expect(jwtVerify(idToken, createLocalJWKSet(publicJwks([key])))).rejects.toThrow();
    const old = await mintTokens({ ...request, now: now - 7200 });
    await expect(jwtVerify(old.idToken, createLocalJWKSet(publicJwks([key])))).rejects.toThrow(/exp/);
  });
});

describe('local Cognito ids, issuers and JWKS addresses', () => {
  it('makes pool and client ids shaped like Cognito’s', () => {
    expect(newPoolId('us-east-1')).toMatch(/^us-east-1_[0-9A-Za-z]{9}$/);
    expect(newClientId()).toMatch(/^[0-9a-z]{26}$/);
  });

  it('reads the pool id of a Cognito issuer only', () => {
    expect(poolIdOfIssuer(issuerOf(POOL))).toBe(POOL);
    expect(poolIdOfIssuer(`${issuerOf(POOL)}/`)).toBe(POOL);
    expect(poolIdOfIssuer('https://cognito-idp.us-east-1.amazonaws.com/eu-west-1_AbCdEf123')).toBeUndefined();
    expect(poolIdOfIssuer('https://login.example.com/eu-west-1_AbCdEf123')).toBeUndefined();
  });

  it('serves the JWKS path under /_aws/cognito-idp always, at the root only for a cognito-idp Host', () => {
    expect(jwksPoolId(`/_aws/cognito-idp/${POOL}/.well-known/jwks.json`, '127.0.0.1:4566')).toBe(POOL);
    expect(jwksPoolId(`/${POOL}/.well-known/jwks.json`, 'cognito-idp.eu-west-1.amazonaws.com')).toBe(POOL);
    expect(jwksPoolId(`/${POOL}/.well-known/jwks.json`, '127.0.0.1:4566')).toBeUndefined();
    expect(jwksPoolId(`/_aws/cognito-idp/${POOL}/.well-known/other`, undefined)).toBeUndefined();
  });

  it('points a function’s USER_POOL_JWKS_URI at the edge, leaving other URIs alone', () => {
    const localize = localizeJwksUri('http://127.0.0.1:4566');
    expect(localize(`${issuerOf(POOL)}/.well-known/jwks.json`)).toBe(
      `http://127.0.0.1:4566/_aws/cognito-idp/${POOL}/.well-known/jwks.json`,
    );
    expect(localize('https://login.example.com/.well-known/jwks.json')).toBe(
      'https://login.example.com/.well-known/jwks.json',
    );
  });
});

describe('local Cognito passwords', () => {
  it('checks the pool policy with Cognito’s wording', () => {
    expect(() => checkPasswordPolicy('Aa1!aaaa', DEFAULT_POLICY)).not.toThrow();
    const refusal = (p: string) => {
      try {
        checkPasswordPolicy(p, DEFAULT_POLICY);
        return undefined;
      } catch (err) {
        return { type: (err as { type: string }).type, message: (err as Error).message };
      }
    };
    expect(refusal('Aa1!')).toEqual({
      type: 'InvalidPasswordException',
      message: 'Password does not conform to policy: Password not long enough',
    });
    expect(refusal('aa1!aaaa')?.message).toMatch(/uppercase/);
    expect(refusal('AA1!AAAA')?.message).toMatch(/lowercase/);
    expect(refusal('Aaa!aaaa')?.message).toMatch(/numeric/);
    expect(refusal('Aa1aaaaa')?.message).toMatch(/symbol/);
  });

  it('stores scrypt hashes that match only the password', async () => {
    const stored = await hashPassword('Correct-Horse-9');
    expect(stored).toMatch(/^scrypt\$/);
    expect(stored).not.toContain('Correct-Horse-9');
    expect(await passwordMatches('Correct-Horse-9', stored)).toBe(true);
    expect(await passwordMatches('correct-horse-9', stored)).toBe(false);
    expect(await hashPassword('Correct-Horse-9')).not.toBe(stored);
  });
});
