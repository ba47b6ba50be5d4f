import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { freePort, PORT_RESERVATIONS } from '../../../local-cloud/emulators/child-service';

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

  describe('across processes', () => {
    const holders: ChildProcessWithoutNullStreams[] = [];
    afterAll(() => holders.forEach((h) => h.kill('SIGKILL')));

    /** Starts a port holder (fixtures/port-holder.ts) and returns it with the ports it took. */
    async function holder(count: number): Promise<{ child: ChildProcessWithoutNullStreams; ports: number[] }> {
      const child = spawn(process.execPath, [
        '--import',
        'tsx',
        join(__dirname, 'fixtures/port-holder.ts'),
        String(count),
      ]);
      holders.push(child);
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.once('exit', (code) => reject(new Error(`port holder exited ${code} before answering`)));
      });
      return { child, ports: JSON.parse(line) as number[] };
    }
    const exited = (child: ChildProcessWithoutNullStreams) => new Promise((r) => child.once('exit', r));

    // Two launchers of ours (jest's workers; a bench beside `npm start`) each choose ports to bind seconds later:
    // without the reservations, 400 random ports each out of ~22,000 share about 7 on average.
    it("never hands out a port another live process of ours holds, and a process's ports are freed when it exits", async () => {
      const other = await holder(400);
      const mine: number[] = [];
      for (let i = 0; i < 400; i++) mine.push(await freePort());
      expect(mine.filter((p) => other.ports.includes(p))).toEqual([]);
      for (const port of other.ports.slice(0, 5)) {
        expect(readFileSync(join(PORT_RESERVATIONS, String(port)), 'utf8')).toBe(String(other.child.pid));
      }
      other.child.stdin.end();
      await exited(other.child);
      expect(other.ports.filter((p) => existsSync(join(PORT_RESERVATIONS, String(p))))).toEqual([]);
    });

    it('clears the reservation of a process gone without releasing it (killed outright), not one being written', async () => {
      const gone = await holder(0);
      gone.child.kill('SIGKILL');
      await exited(gone.child);
      // Below the range freePort chooses from: only these files are at those names.
      const orphan = join(PORT_RESERVATIONS, '9999');
      writeFileSync(orphan, String(gone.child.pid));
      // Empty: a reservation being written (created, pid not yet in) stays; one empty for minutes was abandoned.
      const [writing, abandoned] = ['9998', '9997'].map((n) => join(PORT_RESERVATIONS, n));
      writeFileSync(writing!, '');
      writeFileSync(abandoned!, '');
      const twoMinutesAgo = new Date(Date.now() - 120_000);
      utimesSync(abandoned!, twoMinutesAgo, twoMinutesAgo);
      const next = await holder(1);
      expect([orphan, writing!, abandoned!].map((f) => existsSync(f))).toEqual([false, true, false]);
      rmSync(writing!);
      next.child.stdin.end();
      await exited(next.child);
    });
  });
});
