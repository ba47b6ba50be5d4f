/*
 * Bootstrap happens once (issue "Ledger cluster safety", finding 2; etcd's --initial-cluster-state new/existing).
 *
 * A node with an empty Raft log cannot tell a first start from a lost volume or a replaced task: its data dir
 * looks the same. Forming a one-node cluster then is a split brain: it acknowledges writes the real cluster never
 * sees and hands out seqs the real cluster already gave. So a node configured `new` (RAFT_INITIAL_CLUSTER_STATE,
 * or the older RAFT_BOOTSTRAP=true) with an empty log asks every peer first (GET /v1/identity) and
 *   - joins, if any peer answers as a member of a cluster (its data dir was lost: it asks to be re-added);
 *   - waits and asks again, if any peer does not answer, or answers for another cluster: an unreachable peer may
 *     hold the cluster's data, and guessing wrong is unrecoverable, while waiting only delays a first start;
 *   - joins, if a peer with a lower node id is also `new` and uninitialized: that one bootstraps (so a
 *     misconfiguration with several `new` nodes still forms one cluster);
 *   - bootstraps, only when every peer answers and none is in a cluster.
 * When all nodes start fresh at once they all answer uninitialized (their HTTP API runs while they wait), the one
 * `new` node bootstraps and the others join it: exactly one cluster. A launcher can pass the same environment on
 * every start; it must not wait for the `new` node to be healthy before starting the others.
 */
import { TokenSource } from '../../../shared/ledger-contract/auth';

/** GET /v1/identity: what a node says about itself to a probing peer. */
export interface PeerIdentity {
  nodeId: string;
  clusterId: string | null;
  incarnation: string;
  /** 'member': its state belongs to a cluster; 'uninitialized': an empty log, waiting to bootstrap or join. */
  state: 'member' | 'uninitialized';
  initialClusterState: 'new' | 'existing';
}

export type ProbeResult = { url: string } & (
  { kind: 'answered'; identity: PeerIdentity } | { kind: 'unreachable'; error: string }
);

export type EntryDecision = { kind: 'bootstrap' } | { kind: 'join' } | { kind: 'wait'; reason: string };

export interface SelfIdentity {
  nodeId: string;
  incarnation: string;
  clusterId: string | null;
}

/** The rule above, as a pure function of the peers' answers. */
export function decideEntry(self: SelfIdentity, probes: ProbeResult[]): EntryDecision {
  const waits: string[] = [];
  let joinable = false;
  for (const p of probes) {
    if (p.kind === 'unreachable') {
      waits.push(`${p.url} does not answer (${p.error})`);
      continue;
    }
    const peer = p.identity;
    if (peer.nodeId === self.nodeId) {
      if (peer.incarnation !== self.incarnation) waits.push(`${p.url} answers as node ${peer.nodeId} too`);
      continue; // RAFT_PEERS lists this node itself
    }
    const sameCluster = !self.clusterId || !peer.clusterId || peer.clusterId === self.clusterId;
    if (peer.state === 'member' && sameCluster) joinable = true;
    else if (peer.state === 'member') waits.push(`${p.url} is a member of another cluster (${peer.clusterId})`);
    else if (peer.initialClusterState === 'new' && peer.nodeId < self.nodeId) joinable = true;
  }
  if (joinable) return { kind: 'join' };
  if (waits.length > 0) return { kind: 'wait', reason: waits.join('; ') };
  return { kind: 'bootstrap' };
}

const tokenSources = new Map<string, TokenSource>();

/** The node's own calls to its peers (identity probes, joins) are membership business: admin scope. */
export function authHeaders(secret: string | undefined): Record<string, string> {
  if (!secret) return {};
  let source = tokenSources.get(secret);
  if (!source) tokenSources.set(secret, (source = new TokenSource({ secret })));
  return { authorization: source.header('admin') };
}

/** Asks each peer who it is, in parallel; a peer that does not answer within a second counts as unreachable. */
export async function probePeers(peers: string[], secret: string | undefined): Promise<ProbeResult[]> {
  return Promise.all(
    peers.map(async (url): Promise<ProbeResult> => {
      try {
        const res = await fetch(`${url}/v1/identity`, {
          headers: authHeaders(secret),
          signal: AbortSignal.timeout(1_000),
        });
        if (res.status !== 200) return { url, kind: 'unreachable', error: `HTTP ${res.status}` };
        return { url, kind: 'answered', identity: (await res.json()) as PeerIdentity };
      } catch (err) {
        return { url, kind: 'unreachable', error: (err as Error).message };
      }
    }),
  );
}
