import type { OrderResult } from '../../../shared/domain/order';
import type { Position, RiskLimits } from '../../../shared/ledger-contract';

/** The ledger's small state: kept in memory by the state machine and written with every batch. */
export interface LedgerCoreState {
  appliedIndex: number;
  lastSeq: number;
  limits: RiskLimits;
  halted: boolean;
  haltReason: string | null;
}

/**
 * A cancel that reached the ledger before its order: when the order arrives it is not executed (its result is
 * CANCELED). Kept as long as order ids are (forever: see LedgerStateMachine), so a cancel is never forgotten.
 */
export interface CancelTombstone {
  orderId: string;
  account: string;
}

/** What one applied batch of entries changed: stored as one atomic unit with the applied index. */
export interface StoreBatch {
  /** New order results, in apply order (never an id the store already holds). */
  orders: readonly OrderResult[];
  /** New tombstones, in apply order (never an id the store already holds a tombstone for). */
  cancels: readonly CancelTombstone[];
  /** Positions whose quantity changed (the latest value of each). */
  positions: readonly Position[];
  state: LedgerCoreState;
}

/**
 * Where the ledger keeps its order history (the dedup index: orderId → first result) and a durable copy of its small
 * state. Two implementations behind this one interface, both run through the same contract test
 * (test/unit/raft/ledger/order-store.contract.ts):
 *  - MemoryOrderStore: everything in memory, for the deterministic simulation and pure unit tests;
 *  - SqliteOrderStore (storage/sqlite-order-store.ts): the node's, on disk, so memory stays flat as orders grow.
 * commit() is all-or-nothing: after a crash the store holds exactly the batches up to the applied index it reports.
 */
export interface OrderStore {
  /** The state of the last committed batch and every position, or undefined for an empty store. */
  load(): { state: LedgerCoreState; positions: Position[] } | undefined;
  /** The recorded result (duplicate: false) of an order id, or undefined. */
  getOrder(orderId: string): OrderResult | undefined;
  /** How many order results the store holds. */
  orderCount(): number;
  /** Every recorded result in insertion (= apply) order, read lazily. */
  orders(): Iterable<OrderResult>;
  /** The account of the tombstone for an order id, or undefined. */
  getCancel(orderId: string): string | undefined;
  cancelCount(): number;
  /** Every tombstone in insertion (= apply) order, read lazily. */
  cancels(): Iterable<CancelTombstone>;
  commit(batch: StoreBatch): void;
  close(): void;
}

/** The in-memory store: a Map keeps insertion order, so orders() replays in apply order. */
export class MemoryOrderStore implements OrderStore {
  private readonly results = new Map<string, OrderResult>();
  private readonly book = new Map<string, Position>();
  private readonly tombstones = new Map<string, string>();
  private state: LedgerCoreState | undefined;

  load(): { state: LedgerCoreState; positions: Position[] } | undefined {
    return this.state
      ? { state: { ...this.state }, positions: [...this.book.values()].map((p) => ({ ...p })) }
      : undefined;
  }

  getOrder(orderId: string): OrderResult | undefined {
    const result = this.results.get(orderId);
    return result ? { ...result } : undefined;
  }

  orderCount(): number {
    return this.results.size;
  }

  *orders(): Iterable<OrderResult> {
    for (const result of this.results.values()) yield { ...result };
  }

  getCancel(orderId: string): string | undefined {
    return this.tombstones.get(orderId);
  }

  cancelCount(): number {
    return this.tombstones.size;
  }

  *cancels(): Iterable<CancelTombstone> {
    for (const [orderId, account] of this.tombstones) yield { orderId, account };
  }

  commit(batch: StoreBatch): void {
    for (const result of batch.orders) {
      if (this.results.has(result.orderId)) throw new Error(`order store: order ${result.orderId} stored twice`);
    }
    for (const { orderId } of batch.cancels) {
      if (this.tombstones.has(orderId)) throw new Error(`order store: cancel of ${orderId} stored twice`);
    }
    for (const result of batch.orders) this.results.set(result.orderId, { ...result });
    for (const { orderId, account } of batch.cancels) this.tombstones.set(orderId, account);
    for (const p of batch.positions) this.book.set(`${p.account}\u0000${p.symbol}`, { ...p });
    this.state = { ...batch.state, limits: { ...batch.state.limits } };
  }

  close(): void {
    // Nothing to release.
  }
}
