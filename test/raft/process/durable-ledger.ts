import type { OrderResult } from '../../../shared/domain/order';
import { LedgerStateMachine } from '../../../raft-node/src/ledger';
import { RaftStorage } from '../../../raft-node/src/storage';

/**
 * Rebuilds a stopped node's ledger from what it made durable (snapshot + log up to its commit index), so a
 * test checks each replica's own state rather than what one node answers over HTTP.
 */
export function durableLedger(dataDir: string): { orders: Map<string, OrderResult>; commit: number } {
  const storage = RaftStorage.open(dataDir);
  try {
    const { snapshot, entries, hardState } = storage.restored;
    const ledger = snapshot
      ? LedgerStateMachine.restore((JSON.parse(snapshot.data) as { ledger: string }).ledger)
      : new LedgerStateMachine();
    for (const e of entries) {
      if (e.index > hardState.commit) break;
      if (e.type === 'normal') ledger.apply(e.data, e.index);
    }
    const dump = JSON.parse(ledger.snapshot()) as { orders: OrderResult[] };
    return { orders: new Map(dump.orders.map((o) => [o.orderId, o])), commit: hardState.commit };
  } finally {
    storage.close();
  }
}
