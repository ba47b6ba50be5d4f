import { bearerFor, mintToken, scopedKey, TokenVerifier, requiredScope } from '../../../../shared/ledger-contract/auth';

/**
 * The pure token checks behind test/integration/security/peer-auth.test.ts (the peer messages' checks are in
 * peer-wire.test.ts).
 */

describe('client tokens', () => {
  const SECRET = 'unit-secret-0123456789';
  const verifier = new TokenVerifier([SECRET]);
  test('scope rules: reads take any scope, writes and admin their own', () => {
    expect(requiredScope('GET', '/v1/members')).toBe('read');
    expect(requiredScope('POST', '/v1/orders/batch')).toBe('orders:write');
    expect(requiredScope('POST', '/v1/members')).toBe('admin');
    expect(requiredScope('DELETE', '/v1/members/n1')).toBe('admin');
    expect(verifier.check(bearerFor(SECRET, 'admin'), 'read')).toEqual({ ok: true, scope: 'admin' });
    expect(verifier.check(bearerFor(SECRET, 'read'), 'admin')).toMatchObject({ ok: false, status: 403 });
  });
  test('a token whose scope claim is swapped fails its signature', () => {
    const [payload, sig] = mintToken(scopedKey(SECRET, 'read')).split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, scp: 'admin' })).toString('base64url');
    expect(verifier.check(`Bearer ${forged}.${sig}`, 'admin')).toEqual({
      ok: false,
      status: 401,
      reason: 'invalid bearer token signature',
    });
  });
});
