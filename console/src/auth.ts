import type { ConsoleConfig } from './config';

export type Role = 'admin' | 'trader' | 'viewer';
export interface Session {
  idToken: string;
  username: string;
  account: string;
  roles: Role[];
  expiresAt: number;
}

const KEY = 'trading-console-session';

/** The claims of a JWT, unverified: the console only reads them to shape the UI; the API verifies the token. */
function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(json) as Record<string, unknown>;
}

function sessionFrom(idToken: string): Session {
  const claims = claimsOf(idToken);
  const groups = Array.isArray(claims['cognito:groups']) ? (claims['cognito:groups'] as string[]) : [];
  return {
    idToken,
    username: String(claims['cognito:username'] ?? claims.sub ?? ''),
    account: String(claims['custom:account'] ?? ''),
    roles: groups.filter((g): g is Role => g === 'admin' || g === 'trader' || g === 'viewer'),
    expiresAt: Number(claims.exp ?? 0) * 1000,
  };
}

/** Signs in with Cognito's public InitiateAuth (USER_PASSWORD_AUTH) — the same call on AWS and locally. */
export async function signIn(config: ConsoleConfig, username: string, password: string): Promise<Session> {
  const res = await fetch(config.cognitoEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AWSCognitoIdentityProviderService.InitiateAuth',
    },
    body: JSON.stringify({
      AuthFlow: 'USER_PASSWORD_AUTH',
      ClientId: config.userPoolClientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  });
  const body = (await res.json()) as { AuthenticationResult?: { IdToken?: string }; message?: string };
  const idToken = body.AuthenticationResult?.IdToken;
  if (!res.ok || !idToken) throw new Error(body.message ?? `sign-in failed (HTTP ${res.status})`);
  const session = sessionFrom(idToken);
  sessionStorage.setItem(KEY, idToken);
  return session;
}

export function restoreSession(): Session | undefined {
  const token = sessionStorage.getItem(KEY);
  if (!token) return undefined;
  const session = sessionFrom(token);
  return session.expiresAt > Date.now() + 30_000 ? session : undefined;
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
