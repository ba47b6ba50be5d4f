/*
 * Who a data dir belongs to: `identity.json` next to the Raft log, written atomically (temp file, fsync, rename,
 * fsync of the directory) before the log gets its first entry.
 *
 *   clusterId    the cluster this state belongs to (chosen at bootstrap, learned from the leader on join). A node
 *                whose RAFT_CLUSTER_ID differs refuses to start: its log would be spliced into another cluster.
 *   nodeId       the member this state belongs to. A node whose RAFT_NODE_ID differs refuses to start: it would
 *                answer as a member whose votes and acknowledgements this log never gave.
 *   incarnation  a random name for this copy of the member's state, new each time a node starts with an empty log
 *                (a lost volume, a replaced task, a first start). The cluster records it when it adds the member;
 *                a join request with another incarnation for a known node id is a replacement (see node.ts).
 *   origin       'bootstrap' when this data dir formed the cluster: its log then starts under the one-voter
 *                configuration {self}, which the log itself does not record. 'join' otherwise.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { writeFileAtomically } from './raft-storage';
import { DataDirRefusedError } from './refusal';

export const IDENTITY_FILE = 'identity.json';

const IdentitySchema = z
  .object({
    format: z.literal(1),
    clusterId: z.string().min(1).nullable(),
    nodeId: z.string().min(1),
    incarnation: z.string().min(1),
    origin: z.enum(['bootstrap', 'join']),
    createdAt: z.string(),
  })
  .strict();

export type NodeIdentity = z.infer<typeof IdentitySchema>;

export class IdentityMismatchError extends DataDirRefusedError {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityMismatchError';
  }
}

/** The data dir's identity, or null when it has none (a new or pre-identity data dir). */
export function readIdentity(dir: string): NodeIdentity | null {
  const file = path.join(dir, IDENTITY_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DataDirRefusedError(`${file} is not valid JSON; refusing to guess which cluster this data belongs to`);
  }
  const r = IdentitySchema.safeParse(parsed);
  if (!r.success) {
    throw new DataDirRefusedError(
      `${file} is malformed (${r.error.issues[0]?.message ?? 'invalid'}); refusing to start`,
    );
  }
  return r.data;
}

export function writeIdentity(dir: string, identity: NodeIdentity): void {
  writeFileAtomically(dir, IDENTITY_FILE, Buffer.from(`${JSON.stringify(identity, null, 2)}\n`));
}

/** Throws IdentityMismatchError when the data dir belongs to another node or cluster than configured. */
export function checkIdentity(
  dir: string,
  identity: NodeIdentity,
  configured: { nodeId: string; clusterId?: string },
): void {
  if (identity.nodeId !== configured.nodeId) {
    throw new IdentityMismatchError(
      `data dir ${dir} belongs to node ${identity.nodeId}, but RAFT_NODE_ID is ${configured.nodeId}; ` +
        "point RAFT_DATA_DIR at this node's own data dir",
    );
  }
  if (configured.clusterId && identity.clusterId && identity.clusterId !== configured.clusterId) {
    throw new IdentityMismatchError(
      `data dir ${dir} belongs to cluster ${identity.clusterId}, but RAFT_CLUSTER_ID is ${configured.clusterId}; ` +
        'refusing to mix the logs of two clusters',
    );
  }
}

/**
 * The identity this start runs under. A data dir with Raft state keeps its identity (one written before
 * identities existed gets one: origin from the configuration, as the node was started before). An empty log gets
 * a new incarnation, even if an identity file survived: whatever this member acknowledged or voted before is gone,
 * so the cluster must treat it as a new member (a replacement), never as the old one coming back.
 */
export function settleIdentity(
  existing: NodeIdentity | null,
  hasState: boolean,
  configured: { nodeId: string; clusterId?: string; initialClusterState: 'new' | 'existing' },
): { identity: NodeIdentity; changed: boolean } {
  if (hasState && existing) {
    if (existing.clusterId || !configured.clusterId) return { identity: existing, changed: false };
    return { identity: { ...existing, clusterId: configured.clusterId }, changed: true };
  }
  const identity: NodeIdentity = {
    format: 1,
    clusterId: existing?.clusterId ?? configured.clusterId ?? null,
    nodeId: configured.nodeId,
    incarnation: randomUUID(),
    origin: hasState && configured.initialClusterState === 'new' ? 'bootstrap' : 'join',
    createdAt: new Date().toISOString(),
  };
  return { identity, changed: true };
}
