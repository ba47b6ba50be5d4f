import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { supervised } from '../emulators/child-service';
import { localEndpointEnv } from '../../shared/aws/clients';

export const REPO_ROOT = resolve(__dirname, '../..');
/** The project's pinned CDK CLI (aws-cdk in package.json). */
export const CDK_CLI = join(REPO_ROOT, 'node_modules/aws-cdk/bin/cdk');
/** The embedded cloud's one region (CDK environments resolve to it; the edge answers for any signing region). */
export const LOCAL_REGION = 'us-east-1';

/**
 * Runs a Node script supervised (it must not go on after we are gone: a synth or deploy takes a while on a
 * busy machine); resolves with its exit code and combined output.
 */
export async function runNodeScript(
  args: string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv; onLine?: (line: string) => void },
): Promise<{ code: number | null; output: string }> {
  const output: string[] = [];
  const code = await new Promise<number | null>((done, fail) => {
    const app = supervised(process.execPath, args);
    const child = spawn(app.command, app.args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...opts.env, ...app.env },
      stdio: [app.stdin, 'pipe', 'pipe'],
    });
    const take = (c: Buffer) => {
      output.push(c.toString());
      for (const line of c.toString().split('\n')) if (line.trim()) opts.onLine?.(line);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', fail);
    child.on('exit', done);
  });
  return { code, output: output.join('') };
}

/**
 * Runs the pinned CDK CLI against a local endpoint, as a user does: `AWS_ENDPOINT_URL=<edge> npx cdk <args>`
 * (emulator credentials, the local region). Throws with the CLI's last output when it fails.
 */
export async function runCdk(
  args: string[],
  opts: { endpoint: string; cwd?: string; onLine?: (line: string) => void },
): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...localEndpointEnv(opts.endpoint), AWS_REGION: LOCAL_REGION };
  for (const k of Object.keys(env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete env[k];
  const all = [...args, '--no-notices', '--no-version-reporting', '--ci'];
  const { code, output } = await runNodeScript([CDK_CLI, ...all], { env, ...opts });
  if (code !== 0) throw new Error(`cdk ${args.join(' ')} failed (exit ${code}):\n${output.slice(-4000)}`);
  return output;
}
