import { createHash } from 'node:crypto';
import type { Entry, Message, SnapshotMessage } from '../core';

/**
 * Checks on what arrives from peers, before the core sees it. Hand-written rather than zod: every Append of the
 * hot path passes through here, and a structural check of a few fields is all the core needs (it trusts types,
 * not values: terms and indexes are judged by the Raft rules themselves). Snapshots are rare and replace the
 * whole ledger, so they get the full treatment (verifySnapshot).
 */

type Check = (m: Record<string, unknown>) => boolean;

const nat = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const str = (v: unknown): boolean => typeof v === 'string';
const bool = (v: unknown): boolean => typeof v === 'boolean';
const strOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const ENTRY_TYPES = new Set(['normal', 'noop', 'config']);

function isEntry(e: unknown): e is Entry {
  if (typeof e !== 'object' || e === null) return false;
  const x = e as Record<string, unknown>;
  return nat(x.index) && nat(x.term) && ENTRY_TYPES.has(x.type as string) && str(x.data);
}

function isConfig(c: unknown): boolean {
  if (typeof c !== 'object' || c === null) return false;
  const x = c as Record<string, unknown>;
  return Array.isArray(x.voters) && x.voters.every(str) && Array.isArray(x.learners) && x.learners.every(str);
}

const CHECKS: Record<Message['type'], Check> = {
  PreVote: (m) => nat(m.lastIndex) && nat(m.lastTerm),
  Vote: (m) => nat(m.lastIndex) && nat(m.lastTerm) && bool(m.transfer),
  PreVoteResp: (m) => bool(m.reject),
  VoteResp: (m) => bool(m.reject),
  Append: (m) =>
    nat(m.prevIndex) && nat(m.prevTerm) && nat(m.commit) && Array.isArray(m.entries) && m.entries.every(isEntry),
  AppendResp: (m) => nat(m.index) && bool(m.reject) && nat(m.rejectHint) && nat(m.conflictTerm),
  Heartbeat: (m) => nat(m.commit) && strOrNull(m.context),
  HeartbeatResp: (m) => strOrNull(m.context),
  Snapshot: (m) => {
    const s = m.snapshot as { meta?: Record<string, unknown>; data?: unknown } | null;
    return (
      typeof s === 'object' &&
      s !== null &&
      typeof s.meta === 'object' &&
      s.meta !== null &&
      str(s.data) &&
      nat(s.meta.index) &&
      nat(s.meta.term) &&
      isConfig(s.meta.config)
    );
  },
  TimeoutNow: () => true,
  ReadIndex: (m) => str(m.context),
  ReadIndexResp: (m) => str(m.context) && nat(m.index),
  TransferLeader: (m) => str(m.target),
};

/** The message if its shape is what the core expects, else why not. */
export function parseMessage(raw: unknown): Message | string {
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const m = raw as Record<string, unknown>;
  if (!str(m.from) || !str(m.to) || !nat(m.term)) return 'missing from/to/term';
  const check = Object.prototype.hasOwnProperty.call(CHECKS, m.type as string)
    ? CHECKS[m.type as Message['type']]
    : null;
  if (!check) return `unknown message type ${String(m.type)}`;
  return check(m) ? (raw as Message) : `malformed ${String(m.type)} message`;
}

/** What the sender adds to a Snapshot message: a checksum of the data and the cluster it belongs to. */
export interface SnapshotSeal {
  checksum: string;
  clusterId: string;
}

export function snapshotChecksum(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sealSnapshot(m: SnapshotMessage, clusterId: string): SnapshotMessage & SnapshotSeal {
  return { ...m, checksum: snapshotChecksum(m.snapshot.data), clusterId };
}

/**
 * Whether a received snapshot may replace this node's state; null if yes, else the reason. `restore` parses the
 * data the way installSnapshot will (throwing on anything inconsistent), so a snapshot that would crash or corrupt
 * the node is refused while the node still has its own state. A snapshot at or below the commit index needs no
 * check here: the core ignores it (Raft: committed entries are never replaced).
 */
export function verifySnapshot(
  m: SnapshotMessage & Partial<SnapshotSeal>,
  clusterId: string | null,
  restore: (data: string) => void,
): string | null {
  const meta = m.snapshot.meta;
  if (typeof m.checksum !== 'string' || m.checksum !== snapshotChecksum(m.snapshot.data)) {
    return 'snapshot checksum missing or wrong';
  }
  if (clusterId !== null && m.clusterId !== clusterId) return `snapshot is from cluster ${String(m.clusterId)}`;
  if (meta.index < 1 || meta.term < 1 || meta.term > m.term) return 'snapshot index/term out of range';
  if (meta.config.voters.length === 0) return 'snapshot configuration has no voters';
  try {
    restore(m.snapshot.data);
  } catch (err) {
    return `snapshot data does not restore: ${(err as Error).message}`;
  }
  return null;
}
