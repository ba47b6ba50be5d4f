import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { freePort, type ChildService } from '../../../local-cloud/emulators/child-service';
import { javaAvailable, startDynamoDb } from '../../../local-cloud/emulators/dynamodb';
import { startKinesis } from '../../../local-cloud/emulators/kinesis';

/**
 * Issue "Ledger cluster safety", finding 6: the embedded emulators listened on every interface, so anyone on the
 * machine's network could read and write the local streams and tables. Each is started for real and reached through
 * the machine's non-loopback address: the connection must be refused, while loopback works. DynamoDB Local's CLI
 * has no host option; it is started through our launcher (local-cloud/emulators/DynamoDbLocalLoopback.java), and
 * without a JDK the local cloud uses dynalite instead, so it is tested whenever it can run at all.
 */

jest.setTimeout(60_000);

const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

function reach(host: string, port: number): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const cases: [string, (port: number) => Promise<ChildService>][] = [
  ['kinesalite', (port) => startKinesis(port)],
  ['dynalite', (port) => startDynamoDb(port, undefined, 'dynalite')],
  ...(javaAvailable()
    ? [['DynamoDB Local', (port: number) => startDynamoDb(port, undefined, 'dynamodb-local')] as (typeof cases)[number]]
    : []),
];

(external ? describe : describe.skip)(`emulators bind loopback only (external address ${external})`, () => {
  test.each(cases)('%s is refused on the external address and reachable on 127.0.0.1', async (_name, start) => {
    const port = await freePort();
    const svc = await start(port);
    try {
      expect(await reach('127.0.0.1', port)).toBe('connected');
      expect(await reach(external!, port)).toBe('ECONNREFUSED');
    } finally {
      await svc.stop();
    }
  });
});
