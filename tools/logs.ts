/**
 * `npm run logs -- <function> [--filter PATTERN] [--since 10m] [--follow]`
 *
 * CloudWatch-style log inspection through the CloudWatch Logs API only, so the same command reads the
 * embedded cloud, LocalStack or AWS. Where it points (first match wins):
 *   1. `--target embedded|localstack` → `--endpoint` or http://127.0.0.1:4566 (test credentials if none are set);
 *      `--target aws` → the SDK's default endpoint, region and credential chain;
 *   2. AWS_ENDPOINT_URL_CLOUDWATCH_LOGS or AWS_ENDPOINT_URL set → that endpoint;
 *   3. AWS_PROFILE set → AWS;
 *   4. otherwise the embedded cloud at http://127.0.0.1:4566.
 */
import {
  CloudWatchLogsClient,
  DescribeLogGroupsCommand,
  FilterLogEventsCommand,
  type FilteredLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { z } from 'zod';
import { CommandError, defineCommand, parseEnv, runCommand, UsageError } from '../shared/process/cli';
import { createCloudWatchLogsClient, EMULATOR_CREDENTIALS } from '../shared/aws/clients';

const EMBEDDED_ENDPOINT = 'http://127.0.0.1:4566';
const LAMBDA_PREFIX = '/aws/lambda/';

const command = defineCommand({
  name: 'npm run logs',
  usage: `usage: npm run logs -- <function | /log/group/name> [options]
  --filter PATTERN     CloudWatch filter pattern (terms, "phrases", -exclude, ?either, { $.field = value })
  --since DURATION     how far back to start: 30s, 10m, 2h, 1d (default 10m)
  --follow, -f         keep polling for new events (Ctrl-C stops)
  --pretty             indent JSON messages
  --target T           embedded | localstack | aws (default: see below)
  --endpoint URL       endpoint for embedded/localstack (default ${EMBEDDED_ENDPOINT})
  --region R           AWS region (default AWS_REGION, else us-east-1)
Without --target: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS / AWS_ENDPOINT_URL if set, else AWS when AWS_PROFILE is set,
else the embedded cloud at ${EMBEDDED_ENDPOINT}.`,
  positionals: ['function'],
  options: {
    filter: { type: 'string' },
    since: { type: 'string', default: '10m' },
    follow: { type: 'boolean', short: 'f', default: false },
    pretty: { type: 'boolean', default: false },
    target: { type: 'string' },
    endpoint: { type: 'string' },
    region: { type: 'string' },
  },
  schema: z.object({
    function: z.string({ error: 'expected one function or log group name' }).min(1),
    filter: z.string().optional(),
    since: z.string(),
    follow: z.boolean(),
    pretty: z.boolean(),
    target: z.enum(['embedded', 'localstack', 'aws'], { error: 'must be embedded, localstack or aws' }).optional(),
    endpoint: z.string().optional(),
    region: z.string().optional(),
  }),
});

const EnvSchema = z.object({
  AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: z.url().optional(),
  AWS_ENDPOINT_URL: z.url().optional(),
  AWS_PROFILE: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  LOGS_POLL_INTERVAL_MS: z.coerce.number().int().min(100).max(60_000).default(1000),
});
type Env = z.infer<typeof EnvSchema>;

export interface LogsOptions {
  group: string;
  filter?: string;
  sinceMs: number;
  follow: boolean;
  pretty: boolean;
  target: 'embedded' | 'localstack' | 'aws' | 'endpoint';
  endpoint?: string;
  region: string;
  pollIntervalMs: number;
  useTestCredentials: boolean;
}

/** `30s`, `10m`, `2h`, `1d`, `1w` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhdw])$/.exec(text.trim());
  if (!m) throw new UsageError(`--since: expected a duration like 30s, 10m, 2h or 1d, got '${text}'`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
    m[2] as 's' | 'm' | 'h' | 'd' | 'w'
  ];
  return Number(m[1]) * unit;
}

function readEnv(): Env {
  return parseEnv(EnvSchema);
}

export function parseOptions(argv: string[], env: Env): LogsOptions {
  const values = command.parse(argv);
  const target = values.target;
  if (values.endpoint !== undefined && target === 'aws')
    throw new UsageError('--endpoint cannot be used with --target aws');
  const envEndpoint = env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS ?? env.AWS_ENDPOINT_URL;
  let resolved: Pick<LogsOptions, 'target' | 'endpoint'>;
  if (target === 'aws') resolved = { target: 'aws' };
  else if (target === 'embedded' || target === 'localstack') {
    resolved = { target, endpoint: values.endpoint ?? envEndpoint ?? EMBEDDED_ENDPOINT };
  } else if (values.endpoint !== undefined) resolved = { target: 'endpoint', endpoint: values.endpoint };
  else if (envEndpoint !== undefined) resolved = { target: 'endpoint', endpoint: envEndpoint };
  else if (env.AWS_PROFILE !== undefined) resolved = { target: 'aws' };
  else resolved = { target: 'embedded', endpoint: EMBEDDED_ENDPOINT };
  return {
    group: values.function,
    ...(values.filter !== undefined ? { filter: values.filter } : {}),
    sinceMs: parseDuration(values.since),
    follow: values.follow,
    pretty: values.pretty,
    ...resolved,
    region: values.region ?? env.AWS_REGION ?? 'us-east-1',
    pollIntervalMs: env.LOGS_POLL_INTERVAL_MS,
    useTestCredentials:
      resolved.target !== 'aws' && env.AWS_ACCESS_KEY_ID === undefined && env.AWS_PROFILE === undefined,
  };
}

/**
 * A full group name is used as given. A function name resolves to `/aws/lambda/<name>` if that exists,
 * else to the one Lambda group whose function name contains it (CDK names functions like
 * `PipelineStack-ExecuteFunction1A2B3C`); several equally good matches are an error naming them.
 */
export async function resolveLogGroup(client: CloudWatchLogsClient, name: string): Promise<string> {
  if (name.startsWith('/')) return name;
  const groups: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: LAMBDA_PREFIX, nextToken }));
    for (const g of page.logGroups ?? []) if (g.logGroupName) groups.push(g.logGroupName);
    nextToken = page.nextToken;
  } while (nextToken);
  const wanted = name.toLowerCase();
  const fn = (group: string) => group.slice(LAMBDA_PREFIX.length).toLowerCase();
  const tiers = [
    (f: string) => f === wanted,
    (f: string) => f.startsWith(wanted),
    (f: string) => f.split('-').some((part) => part.startsWith(wanted)),
    (f: string) => f.includes(wanted),
  ];
  for (const tier of tiers) {
    const found = groups.filter((g) => tier(fn(g)));
    if (found.length === 1) return found[0] as string;
    if (found.length > 1) {
      throw new CommandError(`'${name}' matches several log groups; pass one of them:\n  ${found.join('\n  ')}`);
    }
  }
  throw new CommandError(
    `no log group for function '${name}' under ${LAMBDA_PREFIX}` +
      (groups.length > 0 ? `; existing:\n  ${groups.join('\n  ')}` : ' (there are none yet)'),
  );
}

export function formatEvent(groupEvent: FilteredLogEvent, pretty: boolean): string {
  const when = new Date(groupEvent.timestamp ?? 0).toISOString();
  let message = (groupEvent.message ?? '').replace(/\n$/, '');
  if (pretty && message.trimStart().startsWith('{')) {
    try {
      message = JSON.stringify(JSON.parse(message), null, 2);
    } catch {
      // not JSON after all: print as it is
    }
  }
  return `${when} ${groupEvent.logStreamName ?? '-'} ${message}`;
}

function createClient(opts: LogsOptions): CloudWatchLogsClient {
  return createCloudWatchLogsClient({
    region: opts.region,
    ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
    ...(opts.useTestCredentials ? { credentials: EMULATOR_CREDENTIALS } : {}),
  });
}

/**
 * Prints the group's events from `since` on; with `follow`, polls until `signal` aborts. Like
 * `aws logs tail --follow`, each poll restarts at the newest timestamp seen and skips event ids
 * already printed at that timestamp.
 */
export async function printLogs(
  opts: LogsOptions,
  write: (line: string) => void,
  signal?: AbortSignal,
  client: CloudWatchLogsClient = createClient(opts),
): Promise<void> {
  const group = await resolveLogGroup(client, opts.group);
  let startTime = Date.now() - opts.sinceMs;
  let seenAtStart = new Set<string>();
  for (;;) {
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await client.send(
          new FilterLogEventsCommand({ logGroupName: group, startTime, filterPattern: opts.filter, nextToken }),
          { abortSignal: signal },
        );
      } catch (err) {
        if (signal?.aborted) return; // stopped mid-request: a normal end of --follow
        throw err;
      }
      for (const event of page.events ?? []) {
        if (event.eventId && seenAtStart.has(event.eventId)) continue;
        write(formatEvent(event, opts.pretty));
        const ts = event.timestamp ?? startTime;
        if (ts > startTime) {
          startTime = ts;
          seenAtStart = new Set();
        }
        if (event.eventId) seenAtStart.add(event.eventId);
      }
      nextToken = page.nextToken;
    } while (nextToken && !signal?.aborted);
    if (!opts.follow || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.pollIntervalMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (signal?.aborted) return;
  }
}

if (require.main === module)
  runCommand(
    command,
    async ({ argv, signal }) => {
      const opts = parseOptions(argv, readEnv());
      const client = createClient(opts);
      try {
        // Ctrl-C (or the reader of --follow's output going away) ends the follow normally.
        await printLogs(opts, (line) => process.stdout.write(`${line}\n`), signal, client);
      } finally {
        client.destroy();
      }
    },
    { stopGraceMs: 5000 },
  );
