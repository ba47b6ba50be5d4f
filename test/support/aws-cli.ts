import { execFile, spawnSync } from 'node:child_process';

/**
 * The real AWS CLIs this machine has, for tests that drive the embedded cloud through them. Debian's `awscli`
 * (AWS CLI v2, /usr/bin/aws — `.ci/run` installs it) and whatever `aws` is first on PATH (often a pip-installed
 * v1) are probed separately, so a test can ask for the one it needs: v2 for `aws logs tail`, a CLI that speaks
 * SQS's query protocol for the edge's query translation. `AWS_CLI` names one more binary to consider.
 */
export interface AwsCli {
  bin: string;
  /** `aws --version`'s first word, e.g. `aws-cli/2.9.19`. */
  versionText: string;
  major: number;
  minor: number;
  /** The botocore version a v1 CLI reports (v2 bundles its own and reports none). */
  botocore?: string;
}

function probe(bin: string): AwsCli | undefined {
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (out.status !== 0) return undefined;
  const versionText = `${out.stdout ?? ''}${out.stderr ?? ''}`.trim();
  const m = /^aws-cli\/(\d+)\.(\d+)/.exec(versionText);
  if (!m) return undefined;
  return {
    bin,
    versionText,
    major: Number(m[1]),
    minor: Number(m[2]),
    botocore: /botocore\/([\d.]+)/.exec(versionText)?.[1],
  };
}

/** Every distinct CLI found, v2 first. */
export function findAwsClis(): AwsCli[] {
  const seen = new Map<string, AwsCli>();
  for (const bin of [process.env.AWS_CLI, '/usr/bin/aws', 'aws']) {
    const cli = bin ? probe(bin) : undefined;
    if (cli && !seen.has(cli.versionText)) seen.set(cli.versionText, cli);
  }
  return [...seen.values()].sort((a, b) => b.major - a.major);
}

/**
 * The environment a CLI runs in: ours without any AWS_* variable (so no endpoint or profile leaks in), plus test
 * credentials and no config files or pager.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_')) env[k] = v;
  return Object.assign(env, {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
    AWS_PAGER: '',
    ...extra,
  });
}

export interface CliRun {
  stdout: string;
  stderr: string;
}

/** Runs `cli` against `endpoint` with JSON output; rejects with the command and the tail of its stderr. */
export function runAwsCli(
  cli: AwsCli,
  endpoint: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { debug?: boolean; timeoutMs?: number } = {},
): Promise<CliRun> {
  const flags = ['--endpoint-url', endpoint, '--output', 'json', ...(options.debug ? ['--debug'] : [])];
  return new Promise((resolve, reject) => {
    execFile(
      cli.bin,
      [...flags, ...args],
      { env, timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const tail = stderr.split('\n').slice(-4).join('\n');
        if (err) reject(new Error(`aws ${args.join(' ')}: ${tail || err.message}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}
