import type { CancelResult, Order, OrderResult } from '../domain/order';
import type { HaltInfo, NodeStatus, Position, RiskLimits } from '../ledger-contract';

/**
 * What the pipeline needs from the Raft ledger. Implemented by the HTTP client in this folder;
 * `applyOrder` is safe to retry: the ledger dedups by orderId and answers a repeat with `duplicate: true`.
 */
export interface LedgerClient {
  applyOrder(order: Order): Promise<OrderResult>;
  /**
   * One ledger entry for all the orders (1 to MAX_BATCH_ORDERS), applied atomically and in order; one result per
   * order, in the orders' order. Safe to retry like applyOrder: every order keeps its own orderId, so a repeat
   * answers each order already applied with its first result (`duplicate: true`).
   */
  applyOrders(orders: Order[]): Promise<OrderResult[]>;
  getOrder(orderId: string): Promise<OrderResult | undefined>;
  /**
   * The ledger's cancel command: CANCELED when it reached the log before the order (the order, when it arrives, is
   * not executed), else the order's own status. Safe to retry: a repeat answers the same status (`duplicate: true`).
   */
  cancelOrder(orderId: string, account: string): Promise<CancelResult>;
  positions(account?: string): Promise<Position[]>;
  status(nodeUrl: string): Promise<NodeStatus>;
}

/** The operator's commands (credentials with the `admin` scope): halt switch and risk limits. */
export interface LedgerAdminClient {
  halt(reason?: string): Promise<HaltInfo>;
  resume(): Promise<HaltInfo>;
  setLimits(patch: Partial<RiskLimits>): Promise<RiskLimits>;
  limits(): Promise<RiskLimits & HaltInfo>;
}
