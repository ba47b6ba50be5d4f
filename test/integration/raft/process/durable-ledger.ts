import type { OrderResult } from '../../../../shared/domain/order';
import { LedgerStateMachine } from '../../../../raft-node/src/ledger';
import { RaftStorage, readSnapshotRecords } from '../../../../raft-node/src/storage';
import { ledgerSnapshotText } from '../../../support/ledger-snapshot';

/**
 * Rebuilds a stopped node's ledger from what it made durable (snapshot + log up to its commit index), so a
 * test checks each replica's own state rather than what one node answers over HTTP.
 */
export function durableLedger(
  dataDir: string,
  clusterCommit?: number,
): { orders: Map<string, OrderResult>; commit: number; lastIndex: number } {
  const storage = RaftStorage.open(dataDir);
  try {
    const { snapshot, entries, hardState } = storage.restored;
    // A node's persisted commit index is only a hint (commit-only changes are not synced); once every node has
    // applied the cluster's commit index, its log up to there is the committed log.
    const commit = clusterCommit ?? hardState.commit;
    const ledger = snapshot
      ? LedgerStateMachine.restoreFrom(readSnapshotRecords(storage.snapshotPath, () => undefined))
      : new LedgerStateMachine();
    for (const e of entries) {
      if (e.index > commit) break;
      if (e.type === 'normal') ledger.apply(e.data, e.index);
    }
    const dump = JSON.parse(ledgerSnapshotText(ledger)) as { orders: OrderResult[] };
    const lastIndex = entries[entries.length - 1]?.index ?? snapshot?.meta.index ?? 0;
    return { orders: new Map(dump.orders.map((o) => [o.orderId, o])), commit, lastIndex };
  } finally {
    storage.close();
  }
}
