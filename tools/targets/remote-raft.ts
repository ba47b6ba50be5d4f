/**
 * How verify reads the ledger of a deployed stack. Per node when the Raft members' client API is reachable
 * from here (LocalStack's compose nodes; on AWS only from inside the VPC); otherwise through the stack's
 * HTTP API (GET /positions, GET /health) — one linearizable view of the ledger, not each node's own.
 */
import type { NodeStatus, Position } from '../../shared/ledger-contract';
import { bearerFor } from '../../shared/ledger-contract/auth';
import { waitFor } from '../../shared/util/wait';
import type { RaftCluster } from '../../local-cloud';
import type { RaftReader } from '../lib/verify-pipeline';
import type { SignedFetch } from './signed-fetch';

/** Each member's own view of the ledger; members are named by their URL when given bare. */
export function raftMembersReader(
  members: (string | { id: string; url: string })[],
  authSecret: string | undefined,
): RaftReader {
  const headers: Record<string, string> = authSecret ? { authorization: bearerFor(authSecret, 'read', 3_600) } : {};
  const byId = new Map<string, string>(
    members.map((m, i) => (typeof m === 'string' ? [`member ${i + 1} (${m})`, m] : [m.id, m.url])),
  );
  const urls = [...byId.values()];
  const get = async <T>(url: string, path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`, { headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`${url}${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  const statuses = () => Promise.all(urls.map((url) => get<NodeStatus>(url, '/v1/status')));
  return {
    nodeIds: [...byId.keys()],
    positions: (id) =>
      waitFor(`${id} /v1/positions`, 60_000, () => get<Position[]>(byId.get(id) as string, '/v1/positions')),
    waitConverged: async () => {
      await waitFor('the Raft members to converge', 20_000, async () => {
        const s = await statuses();
        const commit = s[0]?.commitIndex;
        return s.every((x) => x.commitIndex === commit && x.appliedIndex === commit) ? true : undefined;
      });
    },
    commitIndex: async () => {
      const s = await Promise.all(urls.map((url) => get<NodeStatus>(url, '/v1/status').catch(() => undefined)));
      return Math.max(0, ...s.map((x) => x?.commitIndex ?? 0));
    },
  };
}

/** The reader of a local cluster (the embedded cloud's): each node by its id. */
export function clusterReader(cluster: Pick<RaftCluster, 'nodes' | 'secret'>): RaftReader {
  return raftMembersReader(
    cluster.nodes.map((n) => ({ id: n.id, url: n.httpUrl })),
    cluster.secret,
  );
}

interface HealthBody {
  members: { commitIndex?: number }[];
}

export function httpApiReader(apiUrl: string, signedFetch: SignedFetch, account: string): RaftReader {
  const base = apiUrl.replace(/\/$/, '');
  const getJson = async <T>(path: string, okStatuses = [200]): Promise<T> => {
    const res = await signedFetch('GET', `${base}${path}`);
    if (!okStatuses.includes(res.status)) throw new Error(`GET ${path} answered ${res.status}: ${res.body}`);
    return JSON.parse(res.body) as T;
  };
  const commits = async () => (await getJson<HealthBody>('/health', [200, 503])).members.map((m) => m.commitIndex);
  const id = `ledger via ${base}/positions`;
  return {
    nodeIds: [id],
    positions: () =>
      waitFor(
        id,
        60_000,
        async () =>
          (await getJson<{ positions: Position[] }>(`/positions?account=${encodeURIComponent(account)}`)).positions,
      ),
    waitConverged: async () => {
      await waitFor('the Raft members to converge (GET /health)', 20_000, async () => {
        const c = await commits();
        return c.every((x) => x !== undefined && x === c[0]) ? true : undefined;
      });
    },
    commitIndex: async () => Math.max(0, ...(await commits()).map((x) => x ?? 0)),
  };
}
