import { decideEntry, type PeerIdentity, type ProbeResult } from '../../../../raft-node/src/server/bootstrap';

/** The bootstrap-once rule (raft-node/src/server/bootstrap.ts) for the cases of issue "Ledger cluster safety". */

const self = { nodeId: 'n1', incarnation: 'inc-self', clusterId: 'prod' };
const peer = (nodeId: string, over: Partial<PeerIdentity> = {}): ProbeResult => ({
  url: `http://${nodeId}:8080`,
  kind: 'answered',
  identity: {
    nodeId,
    clusterId: null,
    incarnation: `inc-${nodeId}`,
    state: 'uninitialized',
    initialClusterState: 'existing',
    ...over,
  },
});
const down = (nodeId: string): ProbeResult => ({
  url: `http://${nodeId}:8080`,
  kind: 'unreachable',
  error: 'ECONNREFUSED',
});

describe('bootstrap once', () => {
  test('all nodes fresh at once: the new node bootstraps once every peer answers uninitialized', () => {
    expect(decideEntry(self, [peer('n2'), peer('n3')])).toEqual({ kind: 'bootstrap' });
  });

  test('a wiped node whose peers run a cluster joins, even if only one of them answers', () => {
    expect(decideEntry(self, [peer('n2', { state: 'member', clusterId: 'prod' }), down('n3')])).toEqual({
      kind: 'join',
    });
  });

  test('a peer that does not answer might hold the data: wait, never bootstrap', () => {
    const d = decideEntry(self, [peer('n2'), down('n3')]);
    expect(d).toMatchObject({ kind: 'wait' });
    expect(d.kind === 'wait' && d.reason).toContain('http://n3:8080 does not answer');
  });

  test('a peer in another cluster is neither joined nor ignored', () => {
    expect(decideEntry(self, [peer('n2', { state: 'member', clusterId: 'staging' }), peer('n3')])).toMatchObject({
      kind: 'wait',
      reason: expect.stringContaining('another cluster (staging)'),
    });
  });

  test('several nodes configured new: only the lowest node id bootstraps', () => {
    expect(decideEntry({ ...self, nodeId: 'n2' }, [peer('n1', { initialClusterState: 'new' }), peer('n3')])).toEqual({
      kind: 'join',
    });
    expect(decideEntry(self, [peer('n2', { initialClusterState: 'new' }), peer('n3')])).toEqual({ kind: 'bootstrap' });
  });

  test('RAFT_PEERS listing the node itself is skipped; another process answering as this node id is not', () => {
    expect(decideEntry(self, [peer('n1', { incarnation: 'inc-self' }), peer('n2')])).toEqual({ kind: 'bootstrap' });
    expect(decideEntry(self, [peer('n1'), peer('n2')])).toMatchObject({ kind: 'wait' });
  });

  test('no peers (RAFT_PEERS=none): a deliberate one-node cluster bootstraps', () => {
    expect(decideEntry(self, [])).toEqual({ kind: 'bootstrap' });
  });
});
