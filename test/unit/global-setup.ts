import { enterRunTmpdir } from '../support/run-tmpdir';

/** The unit project's temporary files (CDK synths) go to this run's folder (test/support/run-tmpdir.ts). */
export default function globalSetup(): void {
  enterRunTmpdir();
}
