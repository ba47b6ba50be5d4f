import { leaveRunTmpdir } from '../support/run-tmpdir';

export default function globalTeardown(): void {
  leaveRunTmpdir();
}
