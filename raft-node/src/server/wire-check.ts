import type { Entry, Message } from '../core';
import type { SnapshotTransferMessage } from './snapshot-transfer';

/**
 * Checks on what arrives from peers, before the core sees it. Hand-written rather than zod: every Append of the
 * hot path passes through here, and a structural check of a few fields is all the core needs (it trusts types,
 * not values: terms and indexes are judged by the Raft rules themselves). A snapshot travels as SnapshotChunk
 * messages (snapshot-transfer.ts); the receiver checks the whole file (sha256, header, cluster, a trial restore)
 * before it steps a Snapshot into the core, so a core Snapshot message is never accepted off the wire.
 */

/** What peers may send: the core's messages but Snapshot, and the chunked snapshot transfer's. */
export type PeerMessage = Exclude<Message, { type: 'Snapshot' }> | SnapshotTransferMessage;

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

const SHA256_HEX = /^[0-9a-f]{64}$/;
const sha256 = (v: unknown): boolean => typeof v === 'string' && SHA256_HEX.test(v);

function isMeta(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const x = v as Record<string, unknown>;
  return nat(x.index) && nat(x.term) && isConfig(x.config);
}

const CHECKS: Record<PeerMessage['type'], Check> = {
  PreVote: (m) => nat(m.lastIndex) && nat(m.lastTerm),
  Vote: (m) => nat(m.lastIndex) && nat(m.lastTerm) && bool(m.transfer),
  PreVoteResp: (m) => bool(m.reject),
  VoteResp: (m) => bool(m.reject),
  Append: (m) =>
    nat(m.prevIndex) && nat(m.prevTerm) && nat(m.commit) && Array.isArray(m.entries) && m.entries.every(isEntry),
  AppendResp: (m) => nat(m.index) && bool(m.reject) && nat(m.rejectHint) && nat(m.conflictTerm),
  Heartbeat: (m) => nat(m.commit) && strOrNull(m.context),
  HeartbeatResp: (m) => strOrNull(m.context),
  SnapshotChunk: (m) =>
    str(m.clusterId) &&
    isMeta(m.meta) &&
    sha256(m.sha256) &&
    nat(m.bytes) &&
    nat(m.offset) &&
    str(m.data) &&
    bool(m.done),
  SnapshotAck: (m) => sha256(m.sha256) && nat(m.next) && (m.error === undefined || str(m.error)),
  TimeoutNow: () => true,
  ReadIndex: (m) => str(m.context),
  ReadIndexResp: (m) => str(m.context) && nat(m.index),
  TransferLeader: (m) => str(m.target),
};

/** The message if its shape is what the core expects, else why not. */
export function parseMessage(raw: unknown): PeerMessage | string {
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const m = raw as Record<string, unknown>;
  if (!str(m.from) || !str(m.to) || !nat(m.term)) return 'missing from/to/term';
  const check = Object.prototype.hasOwnProperty.call(CHECKS, m.type as string)
    ? CHECKS[m.type as PeerMessage['type']]
    : null;
  if (!check) return `unknown message type ${String(m.type)}`;
  return check(m) ? (raw as PeerMessage) : `malformed ${String(m.type)} message`;
}
