import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { JsonServiceError } from '../edge/json-service';
import {
  hashPassword,
  passwordMatches,
  type ClientRecord,
  type CognitoState,
  type PoolRecord,
  type UserRecord,
} from './store';
import { mintTokens } from './tokens';

/**
 * Sign-in: USER_PASSWORD_AUTH (InitiateAuth), ADMIN_USER_PASSWORD_AUTH (AdminInitiateAuth) and REFRESH_TOKEN_AUTH,
 * refusing as Cognito does (codes and messages): a wrong password or disabled user is NotAuthorizedException; an
 * unknown user is UserNotFoundException, or NotAuthorizedException when the client prevents user-existence errors;
 * a user with a temporary password gets the NEW_PASSWORD_REQUIRED challenge and no tokens.
 */

export interface AuthRequest {
  flow: string;
  clientId: string;
  /** AdminInitiateAuth names the pool; InitiateAuth finds it by the client. */
  poolId?: string;
  params: Record<string, string>;
  admin: boolean;
}

const PASSWORD_FLOWS = { user: 'USER_PASSWORD_AUTH', admin: 'ADMIN_USER_PASSWORD_AUTH' } as const;
/** The client setting that allows each flow (ExplicitAuthFlows). */
const ALLOWED_BY: Record<string, string> = {
  USER_PASSWORD_AUTH: 'ALLOW_USER_PASSWORD_AUTH',
  ADMIN_USER_PASSWORD_AUTH: 'ALLOW_ADMIN_USER_PASSWORD_AUTH',
  ADMIN_NO_SRP_AUTH: 'ALLOW_ADMIN_USER_PASSWORD_AUTH',
};
const REFRESH_FLOWS = new Set(['REFRESH_TOKEN_AUTH', 'REFRESH_TOKEN']);

const invalid = (message: string) => new JsonServiceError('InvalidParameterException', message);
const notAuthorized = (message = 'Incorrect username or password.') =>
  new JsonServiceError('NotAuthorizedException', message);
/** A hash no password matches the caller knows of; computed once. */
const unknownUserHash = hashPassword(randomBytes(32).toString('base64'));
const digest = (token: string) => createHash('sha256').update(token).digest('hex');

export async function authenticate(state: CognitoState, req: AuthRequest): Promise<unknown> {
  const { pool, client } = state.client(req.clientId, req.poolId);
  if (REFRESH_FLOWS.has(req.flow)) return refresh(state, pool, client, req.params);
  const passwordFlow = req.admin ? [PASSWORD_FLOWS.admin, 'ADMIN_NO_SRP_AUTH'] : [PASSWORD_FLOWS.user];
  if (!passwordFlow.includes(req.flow)) {
    throw invalid(
      `AuthFlow ${req.flow} is not emulated locally (${[...passwordFlow, 'REFRESH_TOKEN_AUTH'].join(', ')} are)`,
    );
  }
  if (!client.ExplicitAuthFlows.includes(ALLOWED_BY[req.flow] ?? '')) {
    throw invalid(req.admin ? 'Auth flow not enabled for this client' : `${req.flow} flow not enabled for this client`);
  }
  const username = req.params.USERNAME;
  const password = req.params.PASSWORD;
  if (!username) throw invalid('Missing required parameter USERNAME');
  if (!password) throw invalid('Missing required parameter PASSWORD');
  checkSecretHash(client, username, req.params.SECRET_HASH);
  const user = state.findUser(pool, username);
  if (!user) {
    // The same scrypt work as for a known user, so the answer's timing does not tell whether the user exists.
    await passwordMatches(password, await unknownUserHash);
    throw client.PreventUserExistenceErrors === 'ENABLED'
      ? notAuthorized()
      : new JsonServiceError('UserNotFoundException', 'User does not exist.');
  }
  if (!(await passwordMatches(password, user.passwordHash))) throw notAuthorized();
  if (!user.enabled) throw notAuthorized('User is disabled.');
  if (user.status === 'FORCE_CHANGE_PASSWORD') {
    return {
      ChallengeName: 'NEW_PASSWORD_REQUIRED',
      Session: randomBytes(48).toString('base64url'),
      ChallengeParameters: {
        USER_ID_FOR_SRP: user.Username,
        requiredAttributes: '[]',
        userAttributes: JSON.stringify(user.attributes),
      },
    };
  }
  const now = Math.floor(Date.now() / 1000);
  const originJti = randomUUID();
  const refreshToken = randomBytes(96).toString('base64url');
  pool.refreshTokens[digest(refreshToken)] = {
    username: user.Username,
    clientId: client.ClientId,
    expires: now + client.refreshTokenSeconds,
    authTime: now,
    originJti,
  };
  state.save();
  const tokens = await issue(pool, client, user, now, originJti, now);
  return { ChallengeParameters: {}, AuthenticationResult: { ...tokens, RefreshToken: refreshToken } };
}

async function refresh(state: CognitoState, pool: PoolRecord, client: ClientRecord, params: Record<string, string>) {
  const token = params.REFRESH_TOKEN;
  if (!token) throw invalid('Missing required parameter REFRESH_TOKEN');
  const record = pool.refreshTokens[digest(token)];
  const now = Math.floor(Date.now() / 1000);
  if (!record || record.clientId !== client.ClientId) throw notAuthorized('Invalid Refresh Token');
  if (record.expires <= now) throw notAuthorized('Refresh Token has expired');
  const user = state.findUser(pool, record.username);
  if (!user) throw notAuthorized('Refresh Token has been revoked');
  if (!user.enabled) throw notAuthorized('User is disabled.');
  checkSecretHash(client, user.Username, params.SECRET_HASH);
  const tokens = await issue(pool, client, user, record.authTime, record.originJti, now);
  return { ChallengeParameters: {}, AuthenticationResult: tokens };
}

async function issue(
  pool: PoolRecord,
  client: ClientRecord,
  user: UserRecord,
  authTime: number,
  originJti: string,
  now: number,
) {
  const { idToken, accessToken } = await mintTokens({
    poolId: pool.Id,
    clientId: client.ClientId,
    key: pool.key,
    user: { username: user.Username, sub: user.sub, attributes: user.attributes, groups: user.groups },
    authTime,
    originJti,
    now,
    idTokenSeconds: client.idTokenSeconds,
    accessTokenSeconds: client.accessTokenSeconds,
  });
  return { AccessToken: accessToken, ExpiresIn: client.accessTokenSeconds, TokenType: 'Bearer', IdToken: idToken };
}

/** A client with a secret requires SECRET_HASH = Base64(HMAC-SHA256(secret, username + clientId)), as Cognito does. */
function checkSecretHash(client: ClientRecord, username: string, given: string | undefined): void {
  if (!client.ClientSecret) return;
  const expected = createHmac('sha256', client.ClientSecret)
    .update(username + client.ClientId)
    .digest('base64');
  if (given !== expected)
    throw notAuthorized(
      `Client ${client.ClientId} is configured with secret but SECRET_HASH was not received or is wrong`,
    );
}
