import { mkdirSync } from 'node:fs';
import { spawnService, type ChildService } from './child-service';

/**
 * Kinesis: kinesalite in its own process. With `dataDir` its LevelDB store survives a restart
 * (the "restart the emulators" chaos scenario relies on that); without it, it is in memory.
 */
export async function startKinesis(port: number, dataDir?: string): Promise<ChildService> {
  const args = [
    require.resolve('kinesalite/cli.js'),
    '--port',
    String(port),
    '--createStreamMs',
    '0',
    '--deleteStreamMs',
    '0',
    '--updateStreamMs',
    '0',
    '--shardLimit',
    '1000',
  ];
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    args.push('--path', dataDir);
  }
  return spawnService({ name: 'kinesis (kinesalite)', command: process.execPath, args, port });
}
