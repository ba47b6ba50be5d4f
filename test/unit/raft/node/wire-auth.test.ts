import { parseMessage } from '../../../../raft-node/src/server/wire-check';
import { bearerFor, mintToken, scopedKey, TokenVerifier, requiredScope } from '../../../../shared/ledger-contract/auth';

/** The pure checks behind test/security/peer-auth.test.ts: message shapes (snapshot chunks included), token verdicts. */

const append = { type: 'Append', from: 'a', to: 'b', term: 2, prevIndex: 1, prevTerm: 1, commit: 1, entries: [] };

describe('parseMessage', () => {
  test.each([
    [null, 'not an object'],
    [{ ...append, from: 1 }, 'missing from/to/term'],
    [{ ...append, term: -1 }, 'missing from/to/term'],
    [{ ...append, type: 'Nope' }, 'unknown message type Nope'],
    [{ ...append, type: 'toString' }, 'unknown message type toString'],
    [{ ...append, entries: [{ index: 1, term: 1, type: 'normal' }] }, 'malformed Append message'],
    [{ ...append, commit: 1.5 }, 'malformed Append message'],
  ])('refuses %j: %s', (raw, reason) => expect(parseMessage(raw)).toBe(reason));

  test('passes well-formed messages through unchanged', () => {
    const m = { ...append, entries: [{ index: 2, term: 2, type: 'normal', data: '{}' }] };
    expect(parseMessage(m)).toBe(m);
  });
});

describe('snapshot transfer messages', () => {
  const meta = { index: 10, term: 3, config: { voters: ['a', 'b'], learners: [] } };
  const sha256 = 'ab'.repeat(32);
  const chunk = { type: 'SnapshotChunk', from: 'a', to: 'b', term: 3, clusterId: 'c1', meta, sha256, bytes: 9 };
  const ack = { type: 'SnapshotAck', from: 'b', to: 'a', term: 3, sha256, next: 9 };
  test('chunks and acks of the chunked transfer pass; a malformed one is named', () => {
    const c = { ...chunk, offset: 0, data: 'AAAA', done: true };
    expect(parseMessage(c)).toBe(c);
    expect(parseMessage(ack)).toBe(ack);
    expect(parseMessage({ ...ack, error: 'refused' })).toEqual({ ...ack, error: 'refused' });
    expect(parseMessage({ ...c, clusterId: undefined })).toBe('malformed SnapshotChunk message');
    expect(parseMessage({ ...c, sha256: 'not-hex' })).toBe('malformed SnapshotChunk message');
    expect(parseMessage({ ...c, meta: { ...meta, config: null } })).toBe('malformed SnapshotChunk message');
    expect(parseMessage({ ...ack, next: -1 })).toBe('malformed SnapshotAck message');
  });
  test("a core Snapshot never comes off the wire: only the receiver's verified file becomes one", () => {
    const snapshot = { type: 'Snapshot', from: 'a', to: 'b', term: 3, snapshot: { meta, data: '{}' } };
    expect(parseMessage(snapshot)).toBe('unknown message type Snapshot');
  });
});

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
