import { mkdirSync } from 'node:fs';
import { spawnService, type ChildService } from './child-service';
import { assertPatched } from './patched-package';

/**
 * Kinesis: kinesalite in its own process. With `dataDir` its LevelDB store survives a restart
 * (the "restart the emulators" chaos scenario relies on that); without it, it is in memory.
 * Patched (patches/kinesalite+3.3.3.patch): its sequence numbers and hash keys in native BigInt rather than
 * bignumber.js, the same values at a fraction of the CPU (docs/local-cloud.md).
 */
export async function startKinesis(port: number, dataDir?: string): Promise<ChildService> {
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
  const script =
    `require(${JSON.stringify(require.resolve('kinesalite'))})(${JSON.stringify(options)})` +
    `.listen(${port}, '127.0.0.1', () => console.log('kinesalite listening on 127.0.0.1:${port}'))`;
  const args = ['-e', script];
  return spawnService({ name: 'kinesis (kinesalite)', command: process.execPath, args, port });
}
