import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { freePort } from '../../../local-cloud/emulators/child-service';

/**
 * freePort() stays out of the kernel's ephemeral range, where outgoing connections take their local ports: a port
 * released there could be taken by any connection before the service binds it (a Raft node once failed to start
 * with EADDRINUSE that way).
 */
describe('freePort', () => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);

  it('hands out distinct bindable ports below the ephemeral range', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(low!);
    }
    const srv = createServer().listen(ports[0], '127.0.0.1');
    await new Promise((resolve) => srv.once('listening', resolve));
    srv.close();
  });

  it('never hands out a port an outgoing connection holds as its local port', async () => {
    const srv = createServer((s) => s.destroy()).listen(0, '127.0.0.1');
    await new Promise((resolve) => srv.once('listening', resolve));
    const target = (srv.address() as { port: number }).port;
    const sockets = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const s = connect(target, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    const local = new Set(sockets.map((s) => s.localPort));
    for (let i = 0; i < 20; i++) expect(local.has(await freePort())).toBe(false);
    sockets.forEach((s) => s.destroy());
    srv.close();
  });
});
