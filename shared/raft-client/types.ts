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
