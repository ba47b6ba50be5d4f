import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLedgerClient } from '../../../../shared/raft-client/client';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { sleep } from '../../../../shared/util/wait';
import { testOrder } from '../support/suite';

/** Graceful shutdown (SIGTERM hands leadership over) and the chaos switches, on real processes. */

jest.setTimeout(60_000);

const order = (orderId: string) => testOrder(orderId, { symbol: 'NVDA' });
/** A node's log file once it contains `text` (its output reaches the file a moment after it is written). */
async function logWith(c: RaftCluster, id: string, text: string): Promise<string> {
  let log = '';
  for (let i = 0; i < 50; i++) {
    log = readFileSync(join(c.dir, `${id}.log`), 'utf8');
    if (log.includes(text)) break;
    await sleep(100);
  }
  return log;
}

describe('graceful shutdown and chaos', () => {
  let cluster: RaftCluster | undefined;
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
  });

  test('SIGTERM on the leader hands leadership to a follower, then the node exits cleanly and recovers', async () => {
    cluster = await startRaftCluster();
    const client = createLedgerClient({ members: cluster.httpUrls });
    await client.applyOrder(order('s-1'));
    const leader = await cluster.leaderId();
    const exit = new Promise<number | null>((r) => cluster!.node(leader).process!.once('exit', (code) => r(code)));
    await cluster.kill(leader, 'SIGTERM');
    expect(await exit).toBe(0);
    const log = await logWith(cluster, leader, 'stopped cleanly');
    expect(log).toContain('leadership handed over');
    expect(log).toContain('stopped cleanly');
    const next = await cluster.leaderId(2_000);
    expect(next).not.toBe(leader);
    await client.applyOrder(order('s-2'));
    await cluster.restart(leader);
    await cluster.waitConverged();
    expect((await cluster.status(leader)).role).toBe('follower');
    client.close();
  });

  test('dropped and delayed messages to and from one node slow it down but lose nothing', async () => {
    cluster = await startRaftCluster({
      env: { CHAOS_ENABLED: 'true', CHAOS_PROFILE: 'drop-pct=25,delay=1-20,seed=7', CHAOS_TARGET_NODE_ID: 'n3' },
    });
    const client = createLedgerClient({ members: cluster.httpUrls, maxAttempts: 20 });
    const results = await Promise.all(Array.from({ length: 60 }, (_, i) => client.applyOrder(order(`x-${i}`))));
    expect(new Set(results.map((r) => r.seq)).size).toBe(60);
    await cluster.waitConverged(20_000);
    const n3 = await cluster.status('n3');
    const n1 = await cluster.status('n1');
    expect(n3.appliedIndex).toBe(n1.appliedIndex);
    client.close();
  });

  test('CHAOS_EXIT_ON_LEADER: a node exits the moment it wins an election', async () => {
    const exitOnLeader = { CHAOS_ENABLED: 'true', CHAOS_EXIT_ON_LEADER: 'true' };
    // n1 bootstraps and leads before the others are even voters, so it is the one without the switch.
    cluster = await startRaftCluster({ nodeEnv: { n2: exitOnLeader, n3: exitOnLeader } });
    const exits = ['n2', 'n3'].map(
      (id) => new Promise<string>((r) => cluster!.node(id).process!.once('exit', () => r(id))),
    );
    await cluster.kill('n1', 'SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<string>((r) => (timer = setTimeout(() => r('none'), 15_000)));
    const first = await Promise.race([...exits, giveUp]);
    clearTimeout(timer);
    expect(['n2', 'n3']).toContain(first);
    expect(cluster.node(first).process!.exitCode).toBe(0);
    expect(await logWith(cluster, first, 'chaos: exiting')).toContain('chaos: exiting on becoming leader');
  });
});
