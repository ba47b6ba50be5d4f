import { createServer } from 'node:net';
import { RaftCluster } from '../../../../local-cloud/raft-cluster';

/**
 * A cluster whose node cannot start fails its start at once, naming the node and quoting the nodes' logs. Before,
 * n1 (which bootstraps only once every peer answers) waited for the exited peer and the start timed out 60 s later
 * with a stale reason ("fetch failed"), three times in CI. The port is taken here on purpose: another process
 * binding a node's chosen port is the fault.
 */
test('a node that exits during the start fails it at once, with every node’s state and log lines', async () => {
  const cluster = await RaftCluster.create({ env: { LOG_LEVEL: 'info' } });
  const squatter = createServer().listen(cluster.nodes[1]!.httpPort, '127.0.0.1');
  await new Promise((resolve) => squatter.once('listening', resolve));
  const started = Date.now();
  try {
    const error = await cluster.start().then(
      () => undefined,
      (err: Error) => err,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(error?.message).toMatch(/^raft node n2 exited/);
    expect(error?.message).toMatch(/ {2}n1 \(running\), the last lines of its log:/);
    expect(error?.message).toMatch(/ {2}n2 \(exited 1\), the last lines of its log:\n(.*\n)*.*EADDRINUSE/);
    expect(cluster.nodes.some((n) => cluster.isRunning(n))).toBe(false);
  } finally {
    squatter.close();
    await cluster.stop();
  }
}, 60_000);
