import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import type { InstallStep } from '../../../../raft-node/src/config';
import {
  isStoreRef,
  LEDGER_DB_FILE,
  readSnapshotInfo,
  readSnapshotRecords,
  readStoreState,
  SNAPSHOT_FILE,
} from '../../../../raft-node/src/storage';
import { createLedgerClient } from '../../../../shared/raft-client/client';
import { waitFor } from '../../../../shared/util/wait';
import { durableLedger } from './durable-ledger';
import { suiteDataDir, testOrder } from '../support/suite';

/**
 * A wiped follower catches up by a copy of the leader's store, which it writes once, straight into a store file
 * (server/snapshot-transfer.ts), and installs by two renames around saving a compaction point (node.ts,
 * storage/ledger-snapshot.ts). The crash cases kill the follower process (SIGKILL, CHAOS_EXIT_IN_INSTALL) at each
 * step of the install and start it again on what it left on disk.
 */

jest.setTimeout(120_000);

const ORDERS = 5_000;

describe("a follower's install of the leader's store copy", () => {
  let cluster: RaftCluster;
  let client: ReturnType<typeof createLedgerClient> | undefined;
  const dataDir = suiteDataDir('raft-store-install-', async () => {
    client?.close();
    await cluster?.stop();
  });

  /**
   * A cluster with ORDERS orders and a follower wiped and started again with `env`: its id, and its log since then
   * (a node may have installed a snapshot when the cluster formed).
   */
  async function wipedFollower(name: string, env: Record<string, string>): Promise<[string, () => string]> {
    client?.close();
    await cluster?.stop();
    cluster = await startRaftCluster({ dir: join(dataDir, name), env: { RAFT_SNAPSHOT_THRESHOLD: '1000' } });
    client = createLedgerClient({ members: cluster.httpUrls });
    for (let first = 0; first < ORDERS; first += 500) {
      await client!.applyOrders(Array.from({ length: 500 }, (_, k) => testOrder(`fill-${first + k}`)));
    }
    const leaderId = await cluster.leaderId();
    const follower = cluster.nodes.find((n) => n.id !== leaderId)!;
    await cluster.kill(follower.id);
    rmSync(follower.dataDir, { recursive: true, force: true });
    const logFile = join(dataDir, name, `${follower.id}.log`);
    const from = readFileSync(logFile).length;
    cluster.spawn(follower, env);
    return [follower.id, () => readFileSync(logFile).subarray(from).toString('utf8')];
  }

  /** After more writes, the follower holds every order in its own store and log. */
  async function expectWholeLedger(follower: string): Promise<void> {
    await client!.applyOrders(Array.from({ length: 10 }, (_, k) => testOrder(`after-${k}`)));
    await cluster.waitConverged(30_000);
    const commit = (await cluster.status(await cluster.leaderId())).commitIndex;
    const followerDir = cluster.node(follower).dataDir;
    await cluster.stop();
    expect(durableLedger(followerDir, commit).orders.size).toBe(ORDERS + 10);
  }

  test('holds only a compaction point for it, and no received snapshot file, from the moment it is installed', async () => {
    const [follower, log] = await wipedFollower('once', {});
    await waitFor('the follower to install the copy', 30_000, () => log().includes('"installed snapshot"'));
    const dir = cluster.node(follower).dataDir;
    expect(log()).toMatch(/"installed snapshot".*"form":"store"/);
    // What the core and the disk hold as the snapshot is a few hundred bytes naming the store's index; the store is
    // the state, and nothing of the transfer is left.
    const snapshotFile = join(dir, SNAPSHOT_FILE);
    expect(statSync(snapshotFile).size).toBeLessThan(4096);
    expect(isStoreRef(readSnapshotRecords(snapshotFile, () => undefined))).toBe(true);
    const { index } = readSnapshotInfo(snapshotFile).header;
    expect(readStoreState(join(dir, LEDGER_DB_FILE))?.appliedIndex).toBeGreaterThanOrEqual(index);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp') || f.endsWith('.install'))).toEqual([]);
    await expectWholeLedger(follower);
  });

  const crashes: Array<[InstallStep, string, RegExp]> = [
    ['staged', 'before the snapshot is saved: the staged store is discarded and the copy sent again', /discarded/],
    ['saved', 'after the snapshot is saved: the staged store is installed at the restart', /finished/],
  ];
  test.each(crashes)('a crash %s (%s)', async (step, _what, settled) => {
    const [follower, log] = await wipedFollower(step, { CHAOS_ENABLED: 'true', CHAOS_EXIT_IN_INSTALL: step });
    const node = cluster.node(follower);
    const exit = await new Promise<NodeJS.Signals | null>((resolve) =>
      node.process!.once('close', (_c, s) => resolve(s)),
    );
    expect(exit).toBe('SIGKILL');
    const dir = node.dataDir;
    const staged = join(dir, `${LEDGER_DB_FILE}.install`);
    expect(existsSync(staged)).toBe(true);
    const snapshotIndex = existsSync(join(dir, SNAPSHOT_FILE))
      ? readSnapshotInfo(join(dir, SNAPSHOT_FILE)).header.index
      : 0;
    // Saved or not, as the step says: the staged store is at the index of the snapshot being installed.
    if (step === 'saved') expect(snapshotIndex).toBe(readStoreState(staged)?.appliedIndex);
    else expect(snapshotIndex).toBeLessThan(readStoreState(staged)!.appliedIndex);

    await cluster.restart(follower); // the same data dir, without the chaos setting
    await waitFor('the restarted follower to settle the install', 30_000, () =>
      new RegExp(`${settled.source} the install of a received store`).test(log()),
    );
    // Discarded, the copy is sent again and installed; finished, the restart installed it.
    if (step === 'staged') {
      await waitFor('the copy installed again', 30_000, () => log().includes('"installed snapshot"'));
    }
    expect(existsSync(staged)).toBe(false);
    await expectWholeLedger(follower);
  });
});
