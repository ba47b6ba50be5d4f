import type { AppendMessage, Message, VoteRespMessage } from '../../../../raft-node/src/core';
import { drain, logOfTerms, Network, newRaft } from './network';

const ABC = ['a', 'b', 'c'];

function threeNodes(opts: Partial<Parameters<typeof newRaft>[1]> = {}): Network {
  return new Network(ABC.map((id, i) => newRaft(id, { voters: ABC, ...opts }, i + 1)));
}

function voteResponses(msgs: Message[]): VoteRespMessage[] {
  return msgs.filter((m): m is VoteRespMessage => m.type === 'VoteResp');
}

describe('Raft core, one scenario per rule of the Raft paper / thesis', () => {
  test('§5.2 one vote per term: a node grants at most one candidate per term', () => {
    const r = newRaft('a', { voters: ['a', 'b', 'c'] });
    r.step({ type: 'Vote', from: 'b', to: 'a', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    r.step({ type: 'Vote', from: 'c', to: 'a', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    // A repeated request from the candidate we voted for is granted again (its first answer may have been lost).
    r.step({ type: 'Vote', from: 'b', to: 'a', term: 1, lastIndex: 0, lastTerm: 0, transfer: false });
    const rd = r.ready();
    const resps = voteResponses(rd.messages);
    expect(resps.map((m) => [m.to, m.reject])).toEqual([
      ['b', false],
      ['c', true],
      ['b', false],
    ]);
    // The vote is in the hard state to persist before the grant is sent.
    expect(rd.hardState).toEqual({ term: 1, vote: 'b', commit: 0 });
    r.advance();
    // In the next term the vote is free again.
    r.step({ type: 'Vote', from: 'c', to: 'a', term: 2, lastIndex: 0, lastTerm: 0, transfer: false });
    expect(voteResponses(drain(r)).map((m) => [m.to, m.term, m.reject])).toEqual([['c', 2, false]]);
  });

  test('§5.4.1 up-to-date-log vote check: a vote needs a log at least as up-to-date as the voter', () => {
    // Voter log: terms [1, 2, 2] → last term 2, last index 3.
    const cases: { lastIndex: number; lastTerm: number; granted: boolean }[] = [
      { lastIndex: 5, lastTerm: 1, granted: false }, // longer but older last term
      { lastIndex: 2, lastTerm: 2, granted: false }, // same last term, shorter
      { lastIndex: 3, lastTerm: 2, granted: true }, // identical
      { lastIndex: 4, lastTerm: 2, granted: true }, // same last term, longer
      { lastIndex: 1, lastTerm: 3, granted: true }, // newer last term wins even if shorter
    ];
    for (const c of cases) {
      const r = newRaft('a', {
        voters: ABC,
        entries: logOfTerms([1, 2, 2]),
        hardState: { term: 2, vote: null, commit: 0 },
      });
      r.step({
        type: 'Vote',
        from: 'b',
        to: 'a',
        term: 3,
        lastIndex: c.lastIndex,
        lastTerm: c.lastTerm,
        transfer: false,
      });
      const [resp] = voteResponses(drain(r));
      expect({ ...c, granted: resp?.reject === false }).toEqual(c);
    }
  });

  test('§5.2 a candidate falls back to follower on a valid AppendEntries of its term', () => {
    const r = newRaft('a', { voters: ABC });
    for (let i = 0; i < 20 && r.status().role !== 'candidate'; i++) r.tick();
    expect(r.status()).toMatchObject({ role: 'candidate', term: 1 });
    drain(r);
    // An AppendEntries from an older term does not unseat it…
    r.step({ type: 'Append', from: 'b', to: 'a', term: 0, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 });
    expect(r.status().role).toBe('candidate');
    // …one from a leader of its own term does.
    r.step({
      type: 'Append',
      from: 'b',
      to: 'a',
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: logOfTerms([1]),
      commit: 0,
    });
    expect(r.status()).toMatchObject({ role: 'follower', term: 1, leaderId: 'b', lastIndex: 1 });
    const appendResp = drain(r).find((m) => m.type === 'AppendResp');
    expect(appendResp).toMatchObject({ to: 'b', reject: false, index: 1 });
  });

  test('§5.1 stale-term messages are ignored (and the stale sender learns the newer term)', () => {
    const r = newRaft('a', { voters: ABC, entries: logOfTerms([1, 1]), hardState: { term: 3, vote: null, commit: 1 } });
    const before = r.status();
    r.step({
      type: 'Append',
      from: 'b',
      to: 'a',
      term: 2,
      prevIndex: 2,
      prevTerm: 1,
      entries: logOfTerms([1, 1, 2]).slice(2),
      commit: 3,
    });
    r.step({ type: 'Vote', from: 'c', to: 'a', term: 2, lastIndex: 9, lastTerm: 2, transfer: false });
    r.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 1, commit: 2, context: null });
    const after = r.status();
    expect(after).toMatchObject({ term: 3, vote: null, leaderId: null, lastIndex: 2, commitIndex: before.commitIndex });
    const msgs = drain(r);
    // No vote answer at all to the stale candidate; the stale leader gets our term so it steps down.
    expect(msgs.some((m) => m.type === 'VoteResp')).toBe(false);
    const stale = newRaft('a', { voters: ABC, hardState: { term: 3, vote: null, commit: 0 }, checkQuorum: true });
    stale.step({ type: 'Append', from: 'b', to: 'a', term: 2, prevIndex: 0, prevTerm: 0, entries: [], commit: 0 });
    expect(drain(stale)).toEqual([expect.objectContaining({ type: 'AppendResp', to: 'b', term: 3 })]);
  });

  describe('§5.3 the leader repairs every divergent follower log of Figure 7', () => {
    // Figure 7: the leader of term 8 has these terms at indexes 1..10.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const shapes: Record<string, number[]> = {
      '(a) missing one entry': [1, 1, 1, 4, 4, 5, 5, 6, 6],
      '(b) missing many entries': [1, 1, 1, 4],
      '(c) one extra uncommitted entry': [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      '(d) extra entries of a later term': [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      '(e) missing entries and extra ones of an older term': [1, 1, 1, 4, 4, 4, 4],
      '(f) many extra entries of terms the leader never saw': [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    test.each(Object.entries(shapes))('%s', (_name, followerLog) => {
      const ids = ['leader', 'follower', 'peer'];
      const leader = newRaft(
        'leader',
        { voters: ids, entries: logOfTerms(leaderLog), hardState: { term: 7, vote: null, commit: 0 } },
        1,
      );
      const follower = newRaft(
        'follower',
        { voters: ids, entries: logOfTerms(followerLog), hardState: { term: 7, vote: null, commit: 0 } },
        2,
      );
      // A peer with the leader's log guarantees the leader wins term 8 even against follower (d).
      const peer = newRaft(
        'peer',
        { voters: ids, entries: logOfTerms(leaderLog), hardState: { term: 7, vote: null, commit: 0 } },
        3,
      );
      const net = new Network([leader, follower, peer]);
      net.campaign('leader');
      expect(leader.status()).toMatchObject({ role: 'leader', term: 8 });
      net.stabilize();
      const expected = [...leaderLog, 8]; // plus the leader's no-op
      expect(net.terms('follower')).toEqual(expected);
      expect(follower.status().commitIndex).toBe(11);
      // Conflict hints skip whole terms: few rejections are needed whatever the shape.
      const rejections = net.delivered.filter((m) => m.type === 'AppendResp' && m.reject && m.from === 'follower');
      expect(rejections.length).toBeLessThanOrEqual(3);
    });
  });

  test('§5.4.2 (Figure 8) entries of an earlier term are never committed by counting replicas', () => {
    const ids = ['s1', 's2', 's3', 's4', 's5'];
    const opts = { voters: ids, maxEntriesPerAppend: 1 };
    // Figure 8 (b): s1 holds index 2 of term 2; s5 holds index 2 of term 3; the others only index 1.
    const s1 = newRaft(
      's1',
      { ...opts, entries: logOfTerms([1, 2]), hardState: { term: 3, vote: null, commit: 1 } },
      1,
    );
    const s5 = newRaft(
      's5',
      { ...opts, entries: logOfTerms([1, 3]), hardState: { term: 3, vote: null, commit: 1 } },
      5,
    );
    const others = ['s2', 's3', 's4'].map((id, i) =>
      newRaft(id, { ...opts, entries: logOfTerms([1]), hardState: { term: 3, vote: null, commit: 1 } }, i + 2),
    );
    const net = new Network([s1, ...others, s5]);
    net.cutLink('s1', 's5');
    // (c): s1 is elected for term 4 and copies its term-2 entry to s2 and s3 — but not its own term-4 no-op.
    const holdsTerm2AtIndex2 = (id: string) => net.node(id).entries(2, 3)[0]?.term === 2;
    net.filter = (m) =>
      m.type !== 'Append' || (m.to !== 's4' && !(m.entries.some((e) => e.index >= 3) && holdsTerm2AtIndex2(m.to)));
    net.campaign('s1');
    expect(s1.status()).toMatchObject({ role: 'leader', term: 4 });
    expect(net.terms('s2')).toEqual([1, 2]);
    expect(net.terms('s3')).toEqual([1, 2]);
    // Index 2 is on a majority (s1, s2, s3) but is of term 2: it must not count as committed.
    expect(s1.status().commitIndex).toBe(1);
    expect(s1.status().progress?.['s2']?.match).toBe(2);
    // (d): s1 crashes; s5 (last term 3) wins term 5 with s2, s3, s4 and overwrites index 2 everywhere.
    net.filter = null;
    net.stop('s1');
    // s5's first try (term 4) meets voters that already voted in term 4; it succeeds in term 5.
    for (let i = 0; i < 5 && s5.status().role !== 'leader'; i++) net.campaign('s5');
    expect(s5.status()).toMatchObject({ role: 'leader', term: 5 });
    for (const id of ['s2', 's3', 's4']) expect(net.terms(id)).toEqual([1, 3, 5]);
    expect(net.applied.get('s1')!.some((e) => e.index === 2)).toBe(false);
  });

  test('§5.3 a new leader overwrites uncommitted conflicting entries', () => {
    const net = threeNodes();
    net.campaign('a');
    net.propose('committed-1');
    // a is cut off and appends entries nobody else gets.
    net.isolate('a');
    for (const d of ['lost-1', 'lost-2', 'lost-3']) expect(net.node('a').propose(d).ok).toBe(true);
    net.stabilize();
    net.campaign('b');
    expect(net.node('b').status().role).toBe('leader');
    net.propose('committed-2');
    net.heal();
    net.tick(['b'], 3);
    const data = (id: string) =>
      net
        .node(id)
        .entries(1, 100)
        .map((e) => e.data);
    expect(data('a')).toEqual(data('b'));
    expect(data('a')).not.toContain('lost-1');
    expect(data('a')).toContain('committed-2');
    expect(net.applied.get('a')!.map((e) => e.data)).not.toContain('lost-1');
  });

  test('thesis §9.6 pre-vote keeps a rejoining partitioned node from disrupting the cluster', () => {
    const net = threeNodes({ preVote: true, checkQuorum: true });
    net.campaign('a');
    const term = net.node('a').status().term;
    net.isolate('c');
    net.tick(['a', 'b', 'c'], 100); // c times out again and again behind the partition
    expect(net.node('c').status().term).toBe(term); // pre-votes never raise its term
    net.heal();
    net.tick(['a', 'b', 'c'], 30);
    expect(net.node('a').status()).toMatchObject({ role: 'leader', term });
    expect(net.node('c').status()).toMatchObject({ role: 'follower', leaderId: 'a', term });

    // Without pre-vote the same partition makes c bump its term and depose the healthy leader on return.
    const disrupted = threeNodes();
    disrupted.campaign('a');
    disrupted.isolate('c');
    disrupted.tick(['a', 'b', 'c'], 100);
    expect(disrupted.node('c').status().term).toBeGreaterThan(term);
    disrupted.heal();
    disrupted.tick(['a', 'b', 'c'], 30);
    expect(disrupted.node('a').status().term).toBeGreaterThan(term);
  });

  test('thesis §6.2 check-quorum: a leader that stops hearing from a quorum steps down', () => {
    const net = threeNodes({ checkQuorum: true, preVote: true });
    net.campaign('a');
    net.tick(['a'], 25);
    expect(net.node('a').status().role).toBe('leader'); // followers answer heartbeats
    net.isolate('a');
    net.tick(['a'], 25); // two election timeouts without any answer
    expect(net.node('a').status()).toMatchObject({ role: 'follower', leaderId: null });
    // Without check-quorum the isolated leader would stay leader forever.
    const plain = threeNodes();
    plain.campaign('a');
    plain.isolate('a');
    plain.tick(['a'], 50);
    expect(plain.node('a').status().role).toBe('leader');
  });

  test('thesis §6.4 ReadIndex waits for a commit in the leader term and a heartbeat quorum', () => {
    const net = threeNodes();
    net.campaign('a');
    net.propose('x');
    // b becomes leader but its no-op cannot reach anyone yet.
    net.isolate('b');
    net.node('b').tick();
    for (let i = 0; i < 50 && net.node('b').status().role !== 'leader'; i++) {
      net.heal();
      net.filter = (m) => !(m.from === 'b' && m.type === 'Append');
      net.node('b').tick();
      net.stabilize();
    }
    const b = net.node('b');
    expect(b.status().role).toBe('leader');
    const noopIndex = b.status().lastIndex;
    expect(b.status().commitIndex).toBeLessThan(noopIndex);
    net.tick(['b'], 1); // a heartbeat tells c who leads
    expect(net.node('c').status().leaderId).toBe('b');
    b.readIndex('r1');
    net.node('c').readIndex('r2'); // a follower's read is forwarded to the leader
    net.stabilize();
    expect(net.readStates.get('b')).toEqual([]);
    expect(net.readStates.get('c')).toEqual([]);
    // Once the no-op commits, both reads are answered at (at least) the no-op's index.
    net.filter = null;
    net.tick(['b'], 2);
    expect(b.status().commitIndex).toBe(noopIndex);
    expect(net.readStates.get('b')).toEqual([{ context: 'r1', index: noopIndex }]);
    expect(net.readStates.get('c')).toEqual([{ context: 'r2', index: noopIndex }]);
    // A leader cut off from the quorum cannot confirm it is still leader, so it answers nothing.
    net.isolate('b');
    b.readIndex('r3');
    net.tick(['b'], 3);
    expect(net.readStates.get('b')!.map((r) => r.context)).not.toContain('r3');
  });

  test('§7 a lagging node catches up by snapshot after log compaction', () => {
    const net = threeNodes();
    net.campaign('a');
    net.isolate('c');
    for (let i = 0; i < 20; i++) net.propose(`v${i}`);
    for (const id of ['a', 'b']) {
      const n = net.node(id);
      const applied = n.status().appliedIndex;
      n.compact(applied, `state@${applied}`);
      expect(n.status().snapshotIndex).toBe(applied);
      expect(() => n.entries(1, 2)).not.toThrow();
      expect(n.entries(1, applied + 1)).toEqual([]);
    }
    net.propose('after-compaction');
    const appliedBefore = net.applied.get('c')!.length;
    net.heal();
    net.tick(['a'], 3);
    const c = net.node('c');
    const snaps = net.snapshotsReceived.get('c')!;
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.data).toBe(`state@${snaps[0]!.meta.index}`);
    expect(snaps[0]!.meta.config).toEqual({ voters: ABC, learners: [] });
    expect(c.status().lastIndex).toBe(net.node('a').status().lastIndex);
    expect(c.status().commitIndex).toBe(net.node('a').status().commitIndex);
    // After the snapshot c applies only what follows it.
    expect(net.applied.get('c')!.map((e) => e.data)).toContain('after-compaction');
    const appliedAfter = net.applied.get('c')!.slice(appliedBefore);
    expect(appliedAfter[0]?.index).toBe(snaps[0]!.meta.index + 1);
  });

  test('thesis §4 membership: add a learner, promote it, remove a voter; the quorum follows the configuration', () => {
    const a = newRaft('a', { voters: ['a'] }, 1);
    const b = newRaft('b', { voters: [] }, 2);
    const c = newRaft('c', { voters: [] }, 3);
    const net = new Network([a, b, c]);
    net.campaign('a');
    net.propose('solo'); // a single voter commits alone
    expect(a.status().commitIndex).toBe(2);

    expect(a.proposeConfChange({ type: 'addLearner', nodeId: 'b', context: 'addr-b' }).ok).toBe(true);
    net.stabilize();
    expect(b.status().config).toEqual({ voters: ['a'], learners: ['b'] });
    expect(b.status().lastIndex).toBe(a.status().lastIndex); // the learner caught up
    expect(a.proposeConfChange({ type: 'promote', nodeId: 'c' })).toMatchObject({
      ok: false,
      reason: 'invalid-conf-change',
    });
    expect(a.proposeConfChange({ type: 'promote', nodeId: 'b' }).ok).toBe(true);
    net.stabilize();
    expect(a.status().config).toEqual({ voters: ['a', 'b'], learners: [] });

    // Two voters: the quorum is two, so without b nothing commits.
    net.isolate('b');
    const { index } = a.propose('needs-b') as { index: number };
    net.stabilize();
    expect(a.status().commitIndex).toBeLessThan(index);
    // One change at a time: while an uncommitted change is in the log, no other is accepted.
    expect(a.proposeConfChange({ type: 'addLearner', nodeId: 'c' }).ok).toBe(true);
    expect(a.proposeConfChange({ type: 'remove', nodeId: 'b' })).toMatchObject({
      ok: false,
      reason: 'config-change-pending',
    });
    net.heal();
    net.tick(['a'], 2);
    expect(a.status().commitIndex).toBe(a.status().lastIndex);
    expect(a.status().commitIndex).toBeGreaterThan(index);

    expect(c.status().config).toEqual({ voters: ['a', 'b'], learners: ['c'] });
    expect(a.proposeConfChange({ type: 'promote', nodeId: 'c' }).ok).toBe(true);
    net.stabilize();
    expect(c.status().config).toEqual({ voters: ['a', 'b', 'c'], learners: [] });
    // Three voters: one may be missing.
    net.isolate('b');
    const second = a.propose('without-b') as { index: number };
    net.stabilize();
    expect(a.status().commitIndex).toBeGreaterThanOrEqual(second.index);
    net.heal();
    net.tick(['a'], 2);

    // Removing the leader: it keeps leading until the removal commits, then steps down; b or c take over.
    expect(a.proposeConfChange({ type: 'remove', nodeId: 'a' }).ok).toBe(true);
    net.stabilize();
    expect(a.status().role).toBe('follower');
    expect(b.status().config).toEqual({ voters: ['b', 'c'], learners: [] });
    net.tick(['a', 'b', 'c'], 40);
    const leader = net.leader()!;
    expect(['b', 'c']).toContain(leader.id);
    expect(a.status().role).toBe('follower'); // not a voter: never campaigns
    net.propose('after-removal');
    // No commit-only broadcast: the follower learns the new commit index on the leader's next heartbeat.
    net.tick([leader.id], 1);
    expect(b.status().commitIndex).toBe(c.status().commitIndex);
  });

  test('thesis §3.10 leadership transfer catches the target up first, and times out', () => {
    const net = threeNodes({ transferTimeoutTicks: 5 });
    net.campaign('a');
    net.cutLink('a', 'c');
    for (let i = 0; i < 5; i++) net.propose(`v${i}`);
    const a = net.node('a');
    const c = net.node('c');
    expect(c.status().lastIndex).toBeLessThan(a.status().lastIndex);
    net.heal();
    let lastIndexAtTimeoutNow = -1;
    net.onDeliver = (m) => {
      if (m.type === 'TimeoutNow') lastIndexAtTimeoutNow = net.node(m.to).status().lastIndex;
    };
    a.transferLeadership('c');
    expect(a.propose('during-transfer')).toMatchObject({ ok: false, reason: 'transferring' });
    net.stabilize();
    expect(lastIndexAtTimeoutNow).toBe(a.status().lastIndex - 1); // c got everything before being told to campaign (the -1 is c's own no-op, appended after)
    expect(c.status()).toMatchObject({ role: 'leader' });
    expect(a.status()).toMatchObject({ role: 'follower', leaderId: 'c' });

    // A transfer to an unreachable node is abandoned after transferTimeoutTicks and proposals resume.
    net.isolate('b');
    c.transferLeadership('b');
    expect(c.propose('blocked')).toMatchObject({ ok: false, reason: 'transferring' });
    net.tick(['c'], 5);
    expect(c.status()).toMatchObject({ role: 'leader' });
    expect(c.status().transferee).toBeUndefined();
    expect(c.propose('resumed').ok).toBe(true);
  });

  test('the in-flight limit pauses pipelined replication until acknowledgements free it', () => {
    const net = new Network(
      ['a', 'b'].map((id, i) => newRaft(id, { voters: ['a', 'b'], maxInflightMsgs: 2, maxEntriesPerAppend: 1 }, i + 1)),
    );
    net.campaign('a');
    const a = net.node('a');
    expect(a.status().progress?.['b']?.state).toBe('replicate');
    // Hold everything b would acknowledge.
    net.filter = (m) => m.from !== 'b';
    for (let i = 0; i < 6; i++) a.propose(`p${i}`);
    const appendsToB = (msgs: Message[]) => msgs.filter((m): m is AppendMessage => m.type === 'Append' && m.to === 'b');
    const first = appendsToB(drain(a));
    expect(first).toHaveLength(2); // two in flight, one entry each; the rest wait
    expect(a.status().progress?.['b']).toMatchObject({ inflight: 2, state: 'replicate' });
    // Delivering them and releasing b's acks frees the window: the rest flow.
    for (const m of first) net.node('b').step(m);
    const acks = drain(net.node('b')).filter((m) => m.type === 'AppendResp');
    a.step(acks[0]!);
    expect(appendsToB(drain(a))).toHaveLength(1);
    net.filter = null;
    for (const m of acks.slice(1)) a.step(m);
    net.stabilize();
    expect(net.node('b').status().lastIndex).toBe(a.status().lastIndex);
    expect(a.status().progress?.['b']?.inflight).toBe(0);
  });
});
