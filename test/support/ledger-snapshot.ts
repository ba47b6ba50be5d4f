import * as path from 'node:path';
import type { Snapshot, SnapshotMeta } from '../../raft-node/src/core';
import { LedgerStateMachine } from '../../raft-node/src/ledger';
import { coreSnapshot, SNAPSHOT_TAKE_FILE, writeSnapshotFile } from '../../raft-node/src/storage';

/**
 * Test convenience only: the ledger's snapshot records folded into one comparable object (the head's fields, every
 * order, every position), and back. Product code never joins the records (see snapshotRecords()).
 */
interface FoldedSnapshot {
  orders: unknown[];
  positions: unknown[];
  cancels: unknown[];
  [field: string]: unknown;
}

export function ledgerSnapshotText(ledger: LedgerStateMachine, maxRecordBytes?: number): string {
  const [head, ...rest] = [...ledger.snapshotRecords(maxRecordBytes)].map(
    (r) => JSON.parse(r) as Record<string, unknown>,
  );
  const folded: FoldedSnapshot = { ...head, orders: [], positions: [], cancels: [] };
  for (const record of rest) {
    if (record.kind === 'orders') folded.orders.push(...(record.orders as unknown[]));
    else if (record.kind === 'cancels') folded.cancels.push(...(record.cancels as unknown[]));
    else folded.positions.push(...(record.positions as unknown[]));
  }
  return JSON.stringify(folded);
}

export function restoreLedgerText(text: string): LedgerStateMachine {
  const { orders, positions, cancels, ...head } = JSON.parse(text) as FoldedSnapshot;
  return LedgerStateMachine.restoreFrom([
    { ...head, orders: orders.length, positions: positions.length, cancels: cancels.length },
    { kind: 'orders', orders },
    { kind: 'positions', positions },
    { kind: 'cancels', cancels },
  ]);
}

/**
 * A real snapshot file (snapshot-stream format) for storage tests: `meta` in the header, one small record of state;
 * returns what RaftStorage.saveSnapshot takes.
 */
export function snapshotArgs(dir: string, meta: SnapshotMeta, state = `state-${meta.index}`): [Snapshot, string] {
  const file = path.join(dir, SNAPSHOT_TAKE_FILE);
  const info = writeSnapshotFile(file, { clusterId: null, ...meta, members: {} }, [JSON.stringify({ state })]);
  return [coreSnapshot(info), file];
}
