import { mkdirSync } from 'node:fs';
import { spawnService, type ChildService } from './child-service';
import { assertPatched } from './patched-package';

/** The line kinesalite's process prints after it answered a PutRecord(s) (several writes in a moment: one line). */
const WRITE_MARK = 'kinesalite:put';

/**
 * Kinesis: kinesalite in its own process. With `dataDir` its LevelDB store survives a restart
 * (the "restart the emulators" chaos scenario relies on that); without it, it is in memory.
 * Patched (patches/kinesalite+3.3.3.patch): its sequence numbers and hash keys in native BigInt rather than
 * bignumber.js, the same values at a fraction of the CPU (docs/local-cloud.md).
 *
 * `onRecordsWritten` is called soon after records land (any stream): what an enhanced fan-out mapping waits on, as
 * SubscribeToShard pushes records when they arrive ([WriteSignal](write-signal.ts)). kinesalite has no hook for it,
 * so its process gets a second `request` listener that prints WRITE_MARK once a successful put's answer is sent;
 * the listener only reads the target header, so kinesalite's own handling of the request is untouched.
 */
export async function startKinesis(
  port: number,
  dataDir?: string,
  onRecordsWritten?: () => void,
): Promise<ChildService> {
  assertPatched('kinesalite', 'kinesalite+3.3.3.patch', require.resolve('kinesalite/db/index.js'), 'hashKeyInRange');
  const options: Record<string, unknown> = {
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 1000,
  };
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    options.path = dataDir;
  }
  // kinesalite's CLI has no host option and listens on every interface; its module returns the server, so we
  // start it ourselves on loopback.
  const script = [
    `const server = require(${JSON.stringify(require.resolve('kinesalite'))})(${JSON.stringify(options)});`,
    onRecordsWritten ? reportWrites : '',
    `server.listen(${port}, '127.0.0.1', () => console.log('kinesalite listening on 127.0.0.1:${port}'));`,
  ].join('\n');
  return spawnService({
    name: 'kinesis (kinesalite)',
    command: process.execPath,
    args: ['-e', script],
    port,
    onOutput: (line) => {
      if (line === WRITE_MARK) onRecordsWritten?.();
    },
  });
}

/** Run in kinesalite's process: one WRITE_MARK line per turn of its event loop in which a put was answered. */
const reportWrites = `
let marked = false;
server.on('request', (req, res) => {
  if (!/\\.PutRecords?$/.test(String(req.headers['x-amz-target'] || ''))) return;
  res.on('finish', () => {
    if (res.statusCode !== 200 || marked) return;
    marked = true;
    setImmediate(() => { marked = false; process.stdout.write(${JSON.stringify(WRITE_MARK + '\n')}); });
  });
});`;
