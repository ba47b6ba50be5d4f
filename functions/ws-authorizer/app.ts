import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { JwtVerifier } from 'aws-jwt-verify';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';
import { parseRoles } from '../../shared/auth/principal';
import { AccountSchema } from '../../shared/domain/order';
import type { WsAuthorizerConfig } from './config';

/** The JWKS fetch's limits: an IdP that hangs must not hold a $connect for the function's whole timeout. */
const JWKS_TIMEOUT_MS = 3_000;

/** The user pool's keys could not be read: the authorizer's own failure, not the caller's (500, not 401). */
class JwksUnavailableError extends Error {}

function isJwksUnavailable(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof JwksUnavailableError) return true;
  return false;
}

export interface WsAuthorizerDeps {
  /** Verifies a Cognito ID token (signature, issuer, audience, expiry, token_use) and returns its claims. */
  verify: (token: string) => Promise<JwtPayload>;
  logger: Logger;
}

/**
 * aws-jwt-verify's verifier for the user pool's ID tokens. Its own JWKS fetcher speaks https only (Node's https
 * module); the embedded cloud's IdP serves its JWKS over http on 127.0.0.1, so the fetch is Node's fetch, which
 * speaks both, with a timeout. Everything else (key selection by kid, caching, the penalty box for unknown kids,
 * the claim checks) is the library's.
 */
export function createJwtVerifier(
  config: Pick<WsAuthorizerConfig, 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'USER_POOL_JWKS_URI'>,
) {
  const fetcher = {
    async fetch(uri: string): Promise<ArrayBuffer> {
      const response = await fetch(uri, { signal: AbortSignal.timeout(JWKS_TIMEOUT_MS) }).catch((error: unknown) => {
        throw new JwksUnavailableError(`JWKS ${uri}: ${(error as Error).message}`);
      });
      if (!response.ok) throw new JwksUnavailableError(`JWKS ${uri} answered ${response.status}`);
      return response.arrayBuffer();
    },
  };
  const verifier = JwtVerifier.create(
    {
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      jwksUri: config.USER_POOL_JWKS_URI ?? `${config.JWT_ISSUER.replace(/\/$/, '')}/.well-known/jwks.json`,
      // An access token carries no account or groups for us: only ID tokens open a connection.
      customJwtCheck: ({ payload }) => {
        if (payload.token_use !== 'id') throw new Error(`token_use is ${String(payload.token_use)}, expected id`);
      },
    },
    { jwksCache: new SimpleJwksCache({ fetcher }) },
  );
  return (token: string) => verifier.verify(token);
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/**
 * The token of a $connect request: the `token` query parameter, or one of the subprotocols a browser offers in
 * Sec-WebSocket-Protocol (`new WebSocket(url, ['trading', token])` — browsers cannot set other headers).
 */
export function tokenOf(event: Pick<APIGatewayRequestAuthorizerEvent, 'headers' | 'queryStringParameters'>) {
  const query = event.queryStringParameters?.token;
  if (query) return query;
  const header = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === 'sec-websocket-protocol');
  return header?.[1]
    ?.split(',')
    .map((p) => p.trim())
    .find((p) => JWT_SHAPE.test(p));
}

const policy = (principalId: string, effect: 'Allow' | 'Deny', resource: string, context?: Record<string, string>) =>
  ({
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    ...(context ? { context } : {}),
  }) satisfies APIGatewayAuthorizerResult;

/**
 * The WebSocket API's $connect authorizer (WebSocket APIs take no JWT authorizer, so a Lambda REQUEST authorizer
 * does the JWT's checks). No token or a token that fails verification: `Unauthorized` (API Gateway answers 401).
 * A valid token of a user without an account: Deny (403). Otherwise Allow, with the context
 * shared/auth/principal.ts reads on every route: sub, account, roles (comma-separated).
 */
export function createWsAuthorizer(deps: WsAuthorizerDeps) {
  const { logger } = deps;
  return middy(
    async (event: APIGatewayRequestAuthorizerEvent, _context: Context): Promise<APIGatewayAuthorizerResult> => {
      const token = tokenOf(event);
      if (!token) {
        logger.info('refused: no token (query parameter token, or Sec-WebSocket-Protocol)');
        throw new Error('Unauthorized');
      }
      let claims: JwtPayload;
      try {
        claims = await deps.verify(token);
      } catch (error) {
        // Keys we could not fetch say nothing about the token: fail (500; the client reconnects), do not refuse.
        if (isJwksUnavailable(error)) throw error;
        // The reason is logged, never returned: a caller probing tokens learns nothing but 401.
        logger.info('refused: token failed verification', { reason: (error as Error).message });
        throw new Error('Unauthorized');
      }
      const sub = typeof claims.sub === 'string' ? claims.sub : 'unknown';
      const account = AccountSchema.safeParse(claims['custom:account']);
      if (!account.success) {
        logger.info('denied: the token has no valid custom:account', { sub });
        return policy(sub, 'Deny', event.methodArn);
      }
      const roles = parseRoles(claims['cognito:groups']).join(',');
      logger.info('allowed', { sub, account: account.data, roles });
      return policy(sub, 'Allow', event.methodArn, { sub, account: account.data, roles });
    },
  ).use(injectLambdaContext(logger, { resetKeys: true }));
}
