/**
 * Finds the embedded stack for the tools that run against it (`verify`, `load`): the `stack.json` that
 * `npm start` writes into its data dir, with this process's AWS SDK pointed at the stack's edge endpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { stackInfoFile, type StackInfo } from '../../local-cloud';
import { localEndpointEnv } from '../../shared/aws/clients';

/**
 * The running embedded stack of `dataDir`. When none was started there, throws the error `missing` makes of a
 * message naming the file and the command that starts one (each tool chooses its exit code through it).
 */
export function openEmbeddedStack(
  dataDir: string,
  missing = (message: string): Error => new Error(message),
): StackInfo {
  const file = stackInfoFile(dataDir);
  if (!existsSync(file)) throw missing(`${file} not found: start the stack first (npm start -- --data-dir ${dataDir})`);
  const info = JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
  Object.assign(process.env, localEndpointEnv(info.endpoint));
  return info;
}
