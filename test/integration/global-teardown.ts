import { leaveRunTmpdir } from '../support/run-tmpdir';

export default async function globalTeardown(): Promise<void> {
  await globalThis.__EMULATORS__?.stop();
  leaveRunTmpdir();
}
