import { resolve } from 'node:path';
import { spawnService, type ChildService } from './child-service';

/** SQS: fauxqs 1.x in its own process (its package is ESM-only, and a process of its own is closer to the real thing). */
export async function startSqs(port: number): Promise<ChildService> {
  return spawnService({
    name: 'sqs (fauxqs)',
    command: process.execPath,
    // fauxqs exports only an ESM entry point, so its CLI is addressed by path.
    args: [resolve(__dirname, '../../node_modules/fauxqs/dist/cli.js')],
    port,
    env: { FAUXQS_PORT: String(port), FAUXQS_LOGGER: 'false', FAUXQS_HOST: '127.0.0.1' },
  });
}
