import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../../local-cloud/emulators/child-service';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { suiteDataDir } from '../raft/support/suite';

/**
 * Issue "Ledger cluster safety", finding 3 and the identity checks, against real raft-node processes:
 *   - a second process on a running node's data dir exits 2 naming the holder (pid, since when), and the
 *     running node keeps serving;
 *   - a data dir that belongs to another node id or another cluster id is refused before it is touched;
 *   - a lock left by a process that no longer runs (kill -9) is taken over.
 */

jest.setTimeout(90_000);

const repoRoot = resolve(__dirname, '..', '..', '..');
const main = join(repoRoot, 'raft-node', 'src', 'main.ts');

/** Runs raft-node with `env` until it exits (or 20 s); returns its exit code and output. */
function runNode(env: Record<string, string>): { status: number | null; output: string } {
  const out = spawnSync(process.execPath, ['--import', 'tsx', main], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: out.status, output: `${out.stdout}${out.stderr}` };
}

describe('data dir guards', () => {
  let cluster: RaftCluster;
  const dataDir = suiteDataDir('raft-guards-', () => cluster?.stop());

  test('a second process on a held data dir exits 2 naming the holder; the holder keeps serving', async () => {
    cluster = await startRaftCluster({ dir: dataDir, env: { RAFT_CLUSTER_ID: 'guards' } });
    const n2 = cluster.node('n2');
    const holderPid = n2.process!.pid!;
    const lock = JSON.parse(readFileSync(join(n2.dataDir, 'LOCK'), 'utf8')) as { pid: number; since: string };
    expect(lock.pid).toBe(holderPid);

    const [httpPort, raftPort] = [await freePort(), await freePort()];
    const second = runNode({
      ...n2.env,
      RAFT_BIND_ADDR: `127.0.0.1:${raftPort}`,
      PORT_HTTP: String(httpPort),
    });
    expect(second.status).toBe(2);
    expect(second.output).toContain(`in use by pid ${holderPid} on host ${hostname()} since ${lock.since}`);
    // One error line, naming the data dir.
    expect(second.output.split('\n').filter((l) => l.includes('"level":"ERROR"'))).toHaveLength(1);
    expect(second.output).toContain(n2.dataDir);

    expect(n2.process!.exitCode).toBeNull();
    expect((await cluster.status('n2')).members.filter((m) => m.voter)).toHaveLength(3);
    expect(JSON.parse(readFileSync(join(n2.dataDir, 'LOCK'), 'utf8')).pid).toBe(holderPid);
  });

  test('a node refuses a data dir recorded for another node id or another cluster id', async () => {
    const n3 = cluster.node('n3');
    await cluster.kill('n3', 'SIGTERM');
    const before = readFileSync(join(n3.dataDir, 'raft.log'));

    const otherNode = runNode({ ...n3.env, RAFT_NODE_ID: 'n9' });
    expect(otherNode.status).toBe(2);
    expect(otherNode.output).toContain(`data dir ${n3.dataDir} belongs to node n3, but RAFT_NODE_ID is n9`);

    const otherCluster = runNode({ ...n3.env, RAFT_CLUSTER_ID: 'elsewhere' });
    expect(otherCluster.status).toBe(2);
    expect(otherCluster.output).toContain(`belongs to cluster guards, but RAFT_CLUSTER_ID is elsewhere`);
    // Refused before the storage was opened: the log is byte for byte what n3 left.
    expect(readFileSync(join(n3.dataDir, 'raft.log')).equals(before)).toBe(true);

    // With its own identity it starts, and comes back as the same member with its log.
    await cluster.restart('n3');
    await cluster.waitConverged(20_000);
  });

  test('a lock left by a killed process is taken over at once', async () => {
    const n3 = cluster.node('n3');
    await cluster.kill('n3', 'SIGKILL');
    const stale = JSON.parse(readFileSync(join(n3.dataDir, 'LOCK'), 'utf8')) as { pid: number };
    expect(stale.pid).toBe(n3.process!.pid);
    await cluster.restart('n3');
    await cluster.waitConverged(20_000);
    const log = readFileSync(join(dataDir, 'n3.log'), 'utf8');
    expect(log).toContain(`pid ${stale.pid} is not running`);
  });

  test('an empty data dir with a leftover identity file of another cluster is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raft-foreign-'));
    try {
      writeFileSync(
        join(dir, 'identity.json'),
        JSON.stringify({
          format: 1,
          clusterId: 'prod',
          nodeId: 'n1',
          incarnation: 'x',
          origin: 'join',
          createdAt: new Date().toISOString(),
        }),
      );
      const r = runNode({
        RAFT_NODE_ID: 'n1',
        RAFT_CLUSTER_ID: 'staging',
        RAFT_DATA_DIR: dir,
        RAFT_PEERS: 'http://127.0.0.1:9',
      });
      expect(r.status).toBe(2);
      expect(r.output).toContain('belongs to cluster prod, but RAFT_CLUSTER_ID is staging');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
