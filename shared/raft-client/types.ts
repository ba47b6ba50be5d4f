import type { Order, OrderResult } from '../domain/order';

export interface Position {
  account: string;
  symbol: string;
  quantity: number;
}

export interface RiskLimits {
  maxOrderQuantity: number;
  maxOrderNotional: number;
  maxAbsPosition: number;
  /** Orders priced below this are rejected (a near-zero price would slip any notional cap). */
  minPrice: number;
  /** Orders whose quantity × price is below this are rejected. */
  minOrderNotional: number;
}

/** The halt switch: why trading was halted (POST /v1/halt {reason}), null when no reason was given or not halted. */
export interface HaltInfo {
  halted: boolean;
  haltReason: string | null;
}

export interface MemberInfo {
  id: string;
  raftAddr: string;
  httpUrl: string;
  voter: boolean;
}

/** GET /v1/status */
export interface NodeStatus {
  nodeId: string;
  role: 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';
  term: number;
  leaderId: string | null;
  leaderUrl: string | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
  members: MemberInfo[];
  /** The halt switch as this node has applied it. */
  halted: boolean;
  haltReason: string | null;
}

/**
 * What the pipeline needs from the Raft ledger. Implemented by the HTTP client in this folder;
 * `applyOrder` is safe to retry: the ledger dedups by orderId and answers a repeat with `duplicate: true`.
 */
export interface LedgerClient {
  applyOrder(order: Order): Promise<OrderResult>;
  /** One ledger entry for all the orders; results in the orders' order. Safe to retry like applyOrder. */
  applyOrders(orders: Order[]): Promise<OrderResult[]>;
  getOrder(orderId: string): Promise<OrderResult | undefined>;
  positions(account?: string): Promise<Position[]>;
  status(nodeUrl: string): Promise<NodeStatus>;
}
