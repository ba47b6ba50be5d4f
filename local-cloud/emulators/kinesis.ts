import { mkdirSync } from 'node:fs';
import { spawnService, type ChildService } from './child-service';

/**
 * Kinesis: kinesalite in its own process. With `dataDir` its LevelDB store survives a restart
 * (the "restart the emulators" chaos scenario relies on that); without it, it is in memory.
 */
export async function startKinesis(port: number, dataDir?: string): Promise<ChildService> {
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
