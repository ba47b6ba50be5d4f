import { resolve } from 'node:path';
import { spawnService, type ChildService } from './child-service';
import { assertPatched } from './patched-package';

const FAUXQS_DIST = resolve(__dirname, '../../node_modules/fauxqs/dist');

/**
 * SQS: fauxqs 1.x in its own process (its package is ESM-only, and a process of its own is closer to the real thing),
 * patched by patches/fauxqs+1.9.2.patch (npm's postinstall applies it) to receive from FIFO queues and long-poll as
 * SQS does, to find queues by their URL's path, and to listen where it is told.
 */
export async function startSqs(port: number): Promise<ChildService> {
  // Unpatched fauxqs would run, but receive unlike SQS and listen on every interface.
  assertPatched('fauxqs', 'fauxqs+1.9.2.patch', resolve(FAUXQS_DIST, 'sqs/sqsStore.js'), 'requeueFifo(');
  return spawnService({
    name: 'sqs (fauxqs)',
    command: process.execPath,
    // fauxqs exports only an ESM entry point, so its CLI is addressed by path.
    args: [resolve(FAUXQS_DIST, 'cli.js')],
    port,
    // FAUXQS_HOST names the queue URLs' host; FAUXQS_LISTEN_HOST (from the patch) keeps it on loopback.
    env: {
      FAUXQS_PORT: String(port),
      FAUXQS_LOGGER: 'false',
      FAUXQS_HOST: '127.0.0.1',
      FAUXQS_LISTEN_HOST: '127.0.0.1',
    },
  });
}
