import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnService, type ChildService } from '../../local-cloud/emulators/child-service';
import { postJson, type KeepAliveHttp } from './http-load';

/**
 * A 3-member etcd cluster on loopback for `npm run bench:raft` to measure the ledger against, started with the
 * same flags every time: fresh data dirs in a temp folder, etcd's own defaults for everything that shapes
 * performance (fsync on — etcd 3.4 has no switch to turn it off —, heartbeat 100 ms, election 1 s, snapshot
 * every 100,000 entries), only addresses, data dirs and logging set. Each member runs supervised
 * (child-service.ts), so it stops when the bench does, even after a SIGKILL of the bench.
 */

export const ETCD_INSTALL_HINT =
  'etcd is not installed; to compare with it: apt-get install -y etcd-server etcd-client (Debian ships etcd 3.4)';

/** `etcd --version`'s first line, or undefined when etcd is not on PATH. */
export function etcdVersion(): string | undefined {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return undefined;
  return r.stdout.split('\n')[0]?.trim();
}

export interface EtcdCluster {
  /** Client URLs of the members, the leader first. */
  clientUrls: string[];
  stop(): Promise<void>;
}

/** The flags of member `i` of `n` (0-based); only addresses, names and the data dir differ between runs. */
function memberArgs(i: number, dir: string, ports: { client: number; peer: number }[]): string[] {
  const name = `e${i + 1}`;
  const peerUrl = (j: number) => `http://127.0.0.1:${ports[j]!.peer}`;
  const clientUrl = `http://127.0.0.1:${ports[i]!.client}`;
  return [
    `--name=${name}`,
    `--data-dir=${join(dir, name)}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl(i)}`,
    `--initial-advertise-peer-urls=${peerUrl(i)}`,
    `--initial-cluster=${ports.map((_, j) => `e${j + 1}=${peerUrl(j)}`).join(',')}`,
    '--initial-cluster-token=bench-raft',
    '--initial-cluster-state=new',
    '--logger=zap',
    '--log-level=error',
  ];
}

/** Starts the members together (etcd's bootstrap waits for all of them) and finds the leader. */
export async function startEtcdCluster(http: KeepAliveHttp, size = 3): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-etcd-'));
  const ports: { client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const members: ChildService[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await Promise.all(
      ports.map((p, i) =>
        spawnService({ name: `etcd e${i + 1}`, command: 'etcd', args: memberArgs(i, dir, ports), port: p.client }),
      ),
    );
    members.push(...started);
    const urls = ports.map((p) => `http://127.0.0.1:${p.client}`);
    const leader = await etcdLeader(http, urls);
    return { clientUrls: [leader, ...urls.filter((u) => u !== leader)], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The member whose own id is the leader id it reports (JSON gateway, /v3/maintenance/status); waits for one. */
async function etcdLeader(http: KeepAliveHttp, urls: string[]): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const url of urls) {
      const reply = await postJson(http, `${url}/v3/maintenance/status`, {}).catch(() => undefined);
      const body = reply?.body as { header?: { member_id?: string }; leader?: string } | undefined;
      if (body?.leader && body.leader !== '0' && body.header?.member_id === body.leader) return url;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('etcd elected no leader within 30 s');
}

/** One etcd write through the JSON gateway: PUT of `value` at `key` (both base64, as the gateway wants). */
export async function etcdPut(http: KeepAliveHttp, url: string, key: string, value: string): Promise<void> {
  const reply = await postJson(http, `${url}/v3/kv/put`, {
    key: Buffer.from(key).toString('base64'),
    value: Buffer.from(value).toString('base64'),
  });
  if (reply.status !== 200) throw new Error(`etcd put: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
}
