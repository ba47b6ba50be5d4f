import { parseMessage, sealSnapshot, verifySnapshot } from '../../../raft-node/src/server/wire-check';
import type { SnapshotMessage } from '../../../raft-node/src/core';
import { bearerFor, mintToken, scopedKey, TokenVerifier, requiredScope } from '../../../shared/raft-client/auth';

/** The pure checks behind test/security/peer-auth.test.ts: message shapes, snapshot seals, token verdicts. */

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

describe('verifySnapshot', () => {
  const data = JSON.stringify({ ledger: '{}', members: {} });
  const msg: SnapshotMessage = {
    type: 'Snapshot',
    from: 'a',
    to: 'b',
    term: 3,
    snapshot: { meta: { index: 10, term: 3, config: { voters: ['a', 'b'], learners: [] } }, data },
  };
  const ok = () => undefined;
  test('a sealed snapshot of our cluster passes; tampering, another cluster or a bad term fails', () => {
    expect(verifySnapshot(sealSnapshot(msg, 'c1'), 'c1', ok)).toBeNull();
    const tampered = { ...sealSnapshot(msg, 'c1'), snapshot: { ...msg.snapshot, data: data + ' ' } };
    expect(verifySnapshot(tampered, 'c1', ok)).toBe('snapshot checksum missing or wrong');
    expect(verifySnapshot(sealSnapshot(msg, 'c2'), 'c1', ok)).toBe('snapshot is from cluster c2');
    const future = sealSnapshot(
      { ...msg, snapshot: { ...msg.snapshot, meta: { ...msg.snapshot.meta, term: 4 } } },
      'c1',
    );
    expect(verifySnapshot(future, 'c1', ok)).toBe('snapshot index/term out of range');
    const bad = () => {
      throw new Error('nope');
    };
    expect(verifySnapshot(sealSnapshot(msg, 'c1'), 'c1', bad)).toBe('snapshot data does not restore: nope');
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
