import { z } from 'zod';

/**
 * The Raft ledger's HTTP API contract: the shapes the node's server (raft-node/src/server) answers with and
 * validates, and the client (shared/raft-client) sends and reads. Both sides import it from here, so neither
 * depends on the other; the token and peer-proof derivation both sides must agree on is in ./auth.
 */

/** A risk cap is a positive finite number. */
const LimitValueSchema = z.number().positive().finite();
/** A floor may be 0 (no floor); a cap must be positive. */
const FloorValueSchema = z.number().nonnegative().finite();

/** The limits in force (GET /v1/limits, the ledger's snapshot). */
export const RiskLimitsSchema = z
  .object({
    maxOrderQuantity: LimitValueSchema,
    maxOrderNotional: LimitValueSchema,
    maxAbsPosition: LimitValueSchema,
    /** Orders priced below this are rejected (a near-zero price would slip any notional cap). */
    minPrice: FloorValueSchema,
    /** Orders whose quantity × price is below this are rejected. */
    minOrderNotional: FloorValueSchema,
  })
  .strict();
export type RiskLimits = z.infer<typeof RiskLimitsSchema>;

/** A partial update: changes only the fields it names (the ledger's setLimits command). */
export const RiskLimitsPatchSchema = RiskLimitsSchema.partial().strict();

/** PUT /v1/limits: a patch that names at least one limit. */
export const RiskLimitsUpdateSchema = RiskLimitsPatchSchema.refine(
  (v) => Object.keys(v).length > 0,
  'give at least one of maxOrderQuantity, maxOrderNotional, maxAbsPosition, minPrice, minOrderNotional',
);

/** POST /v1/halt: an optional reason, kept and shown with the halt. */
export const HaltRequestSchema = z
  .object({ reason: z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters') })
  .partial()
  .strict();

export const NodeIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -');

/** POST /v1/members: a node asking to join (or an operator adding one). */
export const JoinRequestSchema = z
  .object({
    nodeId: NodeIdSchema,
    raftAddr: z.string().regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'must be host:port'),
    httpUrl: z.string().regex(/^https?:\/\/[^\s/]+$/, 'must be an http(s) base URL without a path'),
    /** The joining data dir's incarnation (storage/identity.ts); another one for a known node id means a replacement. */
    incarnation: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be 1-64 letters, digits or -')
      .optional(),
    /** The cluster the joining node expects to be part of. */
    clusterId: NodeIdSchema.optional(),
  })
  .strict();
export type JoinRequest = z.infer<typeof JoinRequestSchema>;

export interface Position {
  account: string;
  symbol: string;
  quantity: number;
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
