import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { spawnService, type ChildService } from './child-service';

const FAUXQS_DIST = resolve(__dirname, '../../node_modules/fauxqs/dist');

/**
 * SQS: fauxqs 1.x in its own process (its package is ESM-only, and a process of its own is closer to the real thing),
 * patched by patches/fauxqs+1.9.2.patch (npm's postinstall applies it) to receive from FIFO queues and long-poll as
 * SQS does, to find queues by their URL's path, and to listen where it is told.
 */
export async function startSqs(port: number): Promise<ChildService> {
  assertPatched();
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

/** Unpatched fauxqs would run, but receive unlike SQS and listen on every interface: refuse it with the fix. */
function assertPatched(): void {
  const store = readFileSync(resolve(FAUXQS_DIST, 'sqs/sqsStore.js'), 'utf8');
  if (!store.includes('requeueFifo(')) {
    throw new Error(
      'node_modules/fauxqs is not patched: run `npm install` (its postinstall applies patches/fauxqs+1.9.2.patch) or `npx patch-package`',
    );
  }
}
