import { startEmulators, type Emulators } from '../../local-cloud/emulators';
import { enterRunTmpdir } from '../support/run-tmpdir';

declare global {
  var __EMULATORS__: Emulators | undefined;
}

/**
 * Starts the emulated AWS services once for the whole run. Their endpoints reach every test worker
 * through the standard AWS_ENDPOINT_URL_<SERVICE> variables, so code under test needs no test-only switch.
 * Temporary files of the run, the emulators' included, go to one folder removed at the end (run-tmpdir.ts).
 */
export default async function globalSetup(): Promise<void> {
  enterRunTmpdir();
  const emulators = await startEmulators();
  globalThis.__EMULATORS__ = emulators;
  Object.assign(process.env, emulators.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    // Node 20 is our toolchain (Lambda runs 22); the SDK's reminder about it is noise in test output.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  });
}
