import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { OrderResult } from '../../../../shared/domain/order';
import { LedgerStateMachine } from '../../../../raft-node/src/ledger';
import {
  LEDGER_DB_FILE,
  RaftStorage,
  readSnapshotRecords,
  restoreStoreFile,
  settleStoreInstall,
  SqliteOrderStore,
} from '../../../../raft-node/src/storage';
import { ledgerSnapshotText } from '../../../support/ledger-snapshot';

/**
 * Rebuilds a stopped node's ledger from what it left on disk (its order store, or a received one whose install a crash
 * interrupted; restored from the snapshot when it is behind it; then the log up to the commit index), the way a
 * restart would, but on a copy of the store so the data dir is not changed: a test checks each replica's own state
 * rather than what one node answers over HTTP.
 */
export function durableLedger(
  dataDir: string,
  clusterCommit?: number,
): { orders: Map<string, OrderResult>; commit: number; lastIndex: number } {
  const storage = RaftStorage.open(dataDir);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'durable-ledger-'));
  try {
    const { snapshot, entries, hardState } = storage.restored;
    // A node's persisted commit index is only a hint (commit-only changes are not synced); once every node has
    // applied the cluster's commit index, its log up to there is the committed log.
    const commit = clusterCommit ?? hardState.commit;
    const dbFile = path.join(scratch, LEDGER_DB_FILE);
    for (const suffix of ['', '-wal', '.install']) {
      const source = path.join(dataDir, LEDGER_DB_FILE + suffix);
      if (fs.existsSync(source)) fs.copyFileSync(source, dbFile + suffix);
    }
    // An install of a received store a crash interrupted, settled as the node's start would.
    settleStoreInstall(dbFile, snapshot?.meta.index);
    let store = new SqliteOrderStore(dbFile);
    if (snapshot && (store.load()?.state.appliedIndex ?? 0) < snapshot.meta.index) {
      store.close();
      restoreStoreFile(
        readSnapshotRecords(storage.snapshotPath, () => undefined),
        dbFile,
        snapshot.meta.index,
      );
      store = new SqliteOrderStore(dbFile);
    }
    const ledger = new LedgerStateMachine(store);
    for (const e of entries) {
      if (e.index > commit) break;
      if (e.index <= ledger.appliedIndex) continue;
      if (e.type === 'normal') ledger.apply(e.data, e.index);
    }
    const dump = JSON.parse(ledgerSnapshotText(ledger)) as { orders: OrderResult[] };
    ledger.close();
    const lastIndex = entries[entries.length - 1]?.index ?? snapshot?.meta.index ?? 0;
    return { orders: new Map(dump.orders.map((o) => [o.orderId, o])), commit, lastIndex };
  } finally {
    storage.close();
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
