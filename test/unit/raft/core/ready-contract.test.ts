import { Raft, type AppendMessage } from '../../../../raft-node/src/core';
import { drain, logOfTerms, Network, newRaft, seededRandom } from './network';

const ABC = ['a', 'b', 'c'];

describe('Raft core: the Ready / restart contract the node layer relies on', () => {
  test('a restarted node keeps its term and vote from the hard state (no second vote in a term)', () => {
    const r = newRaft('a', { voters: ABC, hardState: { term: 4, vote: 'b', commit: 0 } });
    r.step({ type: 'Vote', from: 'c', to: 'a', term: 4, lastIndex: 9, lastTerm: 4, transfer: false });
    expect(drain(r)).toEqual([expect.objectContaining({ type: 'VoteResp', to: 'c', reject: true })]);
    expect(r.status()).toMatchObject({ term: 4, vote: 'b' });
  });

  test('entries overwriting the durable tail come first in Ready.entries (the truncation signal)', () => {
    const r = newRaft('a', {
      voters: ABC,
      entries: logOfTerms([1, 1, 1]),
      hardState: { term: 1, vote: null, commit: 1 },
    });
    drain(r);
    const append: AppendMessage = {
      type: 'Append',
      from: 'b',
      to: 'a',
      term: 2,
      prevIndex: 1,
      prevTerm: 1,
      entries: [{ index: 2, term: 2, type: 'normal', data: 'x' }],
      commit: 1,
    };
    r.step(append);
    const rd = r.ready();
    expect(rd.entries.map((e) => [e.index, e.term])).toEqual([[2, 2]]);
    expect(rd.hardState).toEqual({ term: 2, vote: null, commit: 1 });
    // The acknowledgement is in the same Ready: it may only be sent once the entries are durable.
    expect(rd.messages).toEqual([expect.objectContaining({ type: 'AppendResp', index: 2, reject: false })]);
    r.advance();
    expect(r.hasReady()).toBe(false);
  });

  test('an installed snapshot comes in Ready.snapshot and committed entries resume after it', () => {
    const r = newRaft('c', { voters: [] });
    r.step({
      type: 'Snapshot',
      from: 'a',
      to: 'c',
      term: 3,
      snapshot: { meta: { index: 10, term: 2, config: { voters: ABC, learners: [] } }, data: 'state@10' },
    });
    r.step({
      type: 'Append',
      from: 'a',
      to: 'c',
      term: 3,
      prevIndex: 10,
      prevTerm: 2,
      entries: [{ index: 11, term: 3, type: 'noop', data: '' }],
      commit: 11,
    });
    const rd = r.ready();
    expect(rd.snapshot?.meta.index).toBe(10);
    expect(rd.entries.map((e) => e.index)).toEqual([11]);
    expect(rd.committedEntries.map((e) => e.index)).toEqual([11]);
    r.advance();
    expect(r.status()).toMatchObject({ appliedIndex: 11, snapshotIndex: 10, config: { voters: ABC, learners: [] } });
  });

  /** A three-node cluster with `a` leading and every node caught up (the network persists instantly). */
  function threeWithLeaderA() {
    const nodes = ABC.map((id) => newRaft(id, { voters: ABC }));
    const net = new Network(nodes);
    net.campaign('a');
    const [a, b, c] = nodes as [Raft, Raft, Raft];
    expect(a.status().role).toBe('leader');
    net.tick(['a'], 1);
    return { net, a, b, c };
  }

  test('thesis §10.2.1: a leader sends its entries before they are durable and counts itself only after', () => {
    const { a, b } = threeWithLeaderA();
    const index = (a.propose('x') as { index: number }).index;
    const rd = a.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([index]);
    // The appends may leave now, while the leader writes the entry itself.
    expect(rd.messagesNow.map((m) => [m.type, m.to])).toEqual([
      ['Append', 'b'],
      ['Append', 'c'],
    ]);
    expect(rd.messages).toEqual([]);
    b.step(rd.messagesNow[0]!);
    const [ack] = drain(b);
    a.step(ack!);
    // b's acknowledgement alone is one of three: the leader's own copy is not durable yet.
    expect(a.status().commitIndex).toBeLessThan(index);
    a.advance();
    expect(a.status().commitIndex).toBe(index);
  });

  test('no commit-only broadcast: followers learn a new commit index on the next append or heartbeat', () => {
    const { net, a, b } = threeWithLeaderA();
    const index = net.propose('y');
    expect(a.status().commitIndex).toBe(index);
    expect(b.status().commitIndex).toBeLessThan(index);
    net.tick(['a'], 1);
    expect(b.status().commitIndex).toBe(index);
  });

  test('ReadIndex requests arriving together share one heartbeat round', () => {
    const { net, a } = threeWithLeaderA();
    a.readIndex('r1');
    a.readIndex('r2');
    a.readIndex('r3');
    const sent = drain(a).filter((m) => m.type === 'Heartbeat');
    expect(sent.map((m) => [m.to, (m as { context: string | null }).context])).toEqual([
      ['b', 'r3'],
      ['c', 'r3'],
    ]);
    for (const m of sent) net.node(m.to).step(m);
    for (const id of ['b', 'c']) for (const m of drain(net.node(id))) a.step(m);
    const rd = a.ready();
    expect(rd.readStates.map((r) => r.context)).toEqual(['r1', 'r2', 'r3']);
    a.advance();
  });

  test('misuse fails loudly: ready() twice, advance() alone, compaction past applied, bad config', () => {
    const r = newRaft('a', { voters: ['a'] });
    for (let i = 0; i < 30 && r.status().role !== 'leader'; i++) r.tick();
    r.ready();
    expect(() => r.ready()).toThrow(/before advance/);
    r.advance();
    expect(() => r.advance()).toThrow(/without a Ready/);
    expect(() => r.compact(99, 'x')).toThrow(/beyond the applied index/);
    const restored = {
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: null,
      entries: [],
      config: { voters: ['a'], learners: [] },
    };
    const base = {
      id: 'a',
      electionTick: 10,
      heartbeatTick: 1,
      maxInflightMsgs: 8,
      maxEntriesPerAppend: 8,
      checkQuorum: true,
      preVote: true,
      random: seededRandom(1),
    };
    expect(() => new Raft({ ...base, electionTick: 0 }, restored)).toThrow(/electionTick/);
    expect(() => new Raft({ ...base, heartbeatTick: 10 }, restored)).toThrow(/heartbeatTick/);
    expect(() => new Raft(base, { ...restored, entries: [{ index: 2, term: 1, type: 'noop', data: '' }] })).toThrow(
      /not contiguous/,
    );
  });

  test('a joining node with an empty configuration learns the membership from the config entries it receives', () => {
    const a = newRaft('a', { voters: ['a'] }, 1);
    const d = newRaft('d', { voters: [] }, 4);
    const net = new Network([a, d]);
    net.campaign('a');
    expect(a.proposeConfChange({ type: 'addLearner', nodeId: 'd', context: '{"addr":"x"}' }).ok).toBe(true);
    net.stabilize();
    expect(d.status().config).toEqual({ voters: ['a'], learners: ['d'] });
    const configEntry = net.applied.get('d')!.find((e) => e.type === 'config');
    expect(JSON.parse(configEntry!.data)).toMatchObject({ type: 'addLearner', nodeId: 'd', context: '{"addr":"x"}' });
    // A learner never campaigns, however long it hears nothing.
    net.stop('a');
    net.tick(['d'], 100);
    expect(d.status().role).toBe('follower');
  });
});
