import {
  canRead,
  canTrade,
  isAdmin,
  parseRoles,
  principalFromEvent,
  PrincipalError,
} from '../../../shared/auth/principal';

const jwtEvent = (claims: Record<string, unknown>) => ({
  requestContext: { authorizer: { jwt: { claims, scopes: [] } } },
});

describe('principalFromEvent', () => {
  it('reads account and roles from Cognito claims, in API Gateway flattened form', () => {
    const p = principalFromEvent(jwtEvent({ sub: 'u1', 'custom:account': 'A1', 'cognito:groups': '[trader viewer]' }));
    expect(p).toEqual({ kind: 'user', subject: 'u1', account: 'A1', roles: ['trader', 'viewer'] });
    expect(canTrade(p, 'A1')).toBe(true);
    expect(canTrade(p, 'A2')).toBe(false);
    expect(canRead(p, 'A2')).toBe(false);
    expect(isAdmin(p)).toBe(false);
  });

  it('reads a WebSocket Lambda authorizer context', () => {
    const p = principalFromEvent({ requestContext: { authorizer: { sub: 'u2', account: 'B', roles: 'viewer' } } });
    expect(p).toEqual({ kind: 'user', subject: 'u2', account: 'B', roles: ['viewer'] });
    expect(canTrade(p, 'B')).toBe(false);
    expect(canRead(p, 'B')).toBe(true);
  });

  it('treats an IAM caller as an operator', () => {
    const p = principalFromEvent({ requestContext: { authorizer: { iam: { userArn: 'arn:aws:iam::1:user/ops' } } } });
    expect(isAdmin(p)).toBe(true);
    expect(canRead(p, 'anyone')).toBe(true);
  });

  it('refuses a token without an account, and an event without an authorizer', () => {
    expect(() => principalFromEvent(jwtEvent({ sub: 'u1', 'cognito:groups': '[admin]' }))).toThrow(/custom:account/);
    expect(() => principalFromEvent({ requestContext: {} })).toThrow(PrincipalError);
  });

  it('ignores unknown groups', () => {
    expect(parseRoles(['admin', 'root'])).toEqual(['admin']);
    expect(parseRoles('[]')).toEqual([]);
  });
});
