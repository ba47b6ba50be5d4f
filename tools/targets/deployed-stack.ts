/**
 * Finds a deployed PipelineStack for the tools that run against LocalStack or AWS (`verify`, `load`): its
 * outputs from CloudFormation DescribeStacks, each replaceable by a flag or an environment variable, so the
 * tools also work where there is no CloudFormation (any endpoint serving Kinesis, SQS and DynamoDB).
 *
 * Where the SDK points: `--target localstack` → `--endpoint`, else AWS_ENDPOINT_URL, else
 * http://localhost:4566 (test credentials when none are set); `--target aws` → the SDK's defaults
 * (AWS_ENDPOINT_URL still honoured by the SDK itself, region and credential chain).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { CommandError, parseEnv, UsageError } from '../../shared/process/cli';

export const REMOTE_TARGETS = ['localstack', 'aws'] as const;
export type RemoteTarget = (typeof REMOTE_TARGETS)[number];
export const LOCALSTACK_ENDPOINT = 'http://localhost:4566';
export const DEFAULT_STACK_NAME = 'PipelineStack';

/** PipelineStack output keys (infra/pipeline-stack.ts) → the flag and the environment variable that replace them. */
export const OUTPUT_OVERRIDES = {
  TicksStreamName: { flag: 'ticks-stream', env: 'TICKS_STREAM_NAME' },
  CommandsQueueUrl: { flag: 'commands-queue-url', env: 'COMMANDS_QUEUE_URL' },
  CommandsDlqUrl: { flag: 'commands-dlq-url', env: 'COMMANDS_DLQ_URL' },
  EventsQueueUrl: { flag: 'events-queue-url', env: 'EVENTS_QUEUE_URL' },
  EventsDlqUrl: { flag: 'events-dlq-url', env: 'EVENTS_DLQ_URL' },
  OrdersTableName: { flag: 'orders-table', env: 'ORDERS_TABLE_NAME' },
  HttpApiUrl: { flag: 'http-api-url', env: 'HTTP_API_URL' },
  RaftMembers: { flag: 'raft-members', env: 'RAFT_MEMBERS' },
  UserPoolId: { flag: 'user-pool-id', env: 'USER_POOL_ID' },
  UserPoolClientId: { flag: 'user-pool-client-id', env: 'USER_POOL_CLIENT_ID' },
} as const;
export type OutputKey = keyof typeof OUTPUT_OVERRIDES;

const TARGET_FLAGS = ['target', 'stack', 'endpoint', 'region', 'trading-account'] as const;
const OVERRIDE_FLAGS = Object.values(OUTPUT_OVERRIDES).map((o) => o.flag);

/** The parseArgs options every targeted command accepts. */
const TARGET_ARG_OPTIONS = Object.fromEntries(
  [...TARGET_FLAGS, ...OVERRIDE_FLAGS].map((flag) => [flag, { type: 'string' as const }]),
);

/** Their zod shape (all optional strings; parseTarget and resolveDeployedStack check them). */
const TARGET_ARG_SHAPE = Object.fromEntries(
  [...TARGET_FLAGS, ...OVERRIDE_FLAGS].map((flag) => [flag, z.string().optional()]),
) as Record<(typeof TARGET_FLAGS)[number], z.ZodOptional<z.ZodString>> & Record<string, z.ZodOptional<z.ZodString>>;

/** Where the override lines' descriptions start: after the longest flag and variable. */
const OVERRIDE_COLUMN = Math.max(...Object.values(OUTPUT_OVERRIDES).map((o) => `--${o.flag} (or ${o.env}) `.length));
const TARGET_USAGE = `  --target T                 embedded (default) | localstack | aws
  --stack NAME               CloudFormation stack to read outputs from (default ${DEFAULT_STACK_NAME})
  --endpoint URL             localstack only (default AWS_ENDPOINT_URL, else ${LOCALSTACK_ENDPOINT})
  --region R                 default AWS_REGION, else us-east-1
  --trading-account A        the strategy's account (default TRADING_ACCOUNT, else strategy-1)
  ${Object.entries(OUTPUT_OVERRIDES)
    .map(([k, o]) => `--${o.flag} (or ${o.env})`.padEnd(OVERRIDE_COLUMN) + `instead of the ${k} output`)
    .join('\n  ')}
  Raft API credentials: RAFT_AUTH_SECRET, or RAFT_AUTH_SECRET_ARN (read from Secrets Manager).`;

/** What every targeted command adds to its own flags: parseArgs options, their zod shape, their usage lines. */
export const TARGET_ARGS = { options: TARGET_ARG_OPTIONS, shape: TARGET_ARG_SHAPE, usage: TARGET_USAGE };

/** The target cannot be used as given (stack or output missing, member unreachable): exit 2, no usage. */
export class TargetError extends CommandError {
  constructor(message: string) {
    super(message, 2);
  }
}

export interface DeployedStack {
  target: RemoteTarget;
  stackName: string;
  region: string;
  /** Undefined on AWS: the SDK's own endpoint resolution. */
  endpoint: string | undefined;
  outputs: Partial<Record<OutputKey, string>>;
  raftMembers: string[];
  raftAuthSecret: string | undefined;
  tradingAccount: string;
  /** Where each output came from, for the tools to print. */
  sources: Partial<Record<OutputKey, 'flag' | 'env' | 'stack'>>;
}

const TargetEnvSchema = z.object({
  AWS_ENDPOINT_URL: z.url().optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  RAFT_AUTH_SECRET: z.string().min(1).optional(),
  RAFT_AUTH_SECRET_ARN: z.string().startsWith('arn:').optional(),
  TRADING_ACCOUNT: z.string().min(1).optional(),
});

export function parseTarget(value: string | undefined): RemoteTarget | 'embedded' {
  if (value === undefined || value === 'embedded') return 'embedded';
  if ((REMOTE_TARGETS as readonly string[]).includes(value)) return value as RemoteTarget;
  throw new UsageError(`--target must be embedded, localstack or aws, got '${value}'`);
}

/**
 * Points this process's SDK clients at the target: sets AWS_ENDPOINT_URL (localstack) and the region, and test
 * credentials when LocalStack is the target and none are set. Every client created afterwards follows it.
 */
export function applyTargetEnvironment(target: RemoteTarget, endpointFlag: string | undefined, regionFlag?: string) {
  const env = readTargetEnv();
  if (target === 'aws' && endpointFlag !== undefined)
    throw new UsageError('--endpoint cannot be used with --target aws');
  const endpoint = target === 'localstack' ? (endpointFlag ?? env.AWS_ENDPOINT_URL ?? LOCALSTACK_ENDPOINT) : undefined;
  const region = regionFlag ?? env.AWS_REGION ?? 'us-east-1';
  process.env.AWS_REGION = region;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (endpoint !== undefined) {
    process.env.AWS_ENDPOINT_URL = endpoint;
    if (env.AWS_ACCESS_KEY_ID === undefined) {
      process.env.AWS_ACCESS_KEY_ID = 'test';
      process.env.AWS_SECRET_ACCESS_KEY = 'test';
    }
  }
  return { endpoint, region };
}

function readTargetEnv() {
  return parseEnv(TargetEnvSchema);
}

/**
 * Resolves the stack: flags first, then environment variables, then DescribeStacks for whatever is still
 * missing (only called when something is). Fails naming each required output it could not find.
 */
export async function resolveDeployedStack(
  target: RemoteTarget,
  flags: Readonly<Record<string, unknown>>,
  required: OutputKey[],
): Promise<DeployedStack> {
  const str = (k: string) => (typeof flags[k] === 'string' && flags[k] !== '' ? flags[k] : undefined);
  const { endpoint, region } = applyTargetEnvironment(target, str('endpoint'), str('region'));
  const env = readTargetEnv();
  const stackName = str('stack') ?? DEFAULT_STACK_NAME;
  const outputs: Partial<Record<OutputKey, string>> = {};
  const sources: DeployedStack['sources'] = {};
  for (const [key, o] of Object.entries(OUTPUT_OVERRIDES) as [OutputKey, (typeof OUTPUT_OVERRIDES)[OutputKey]][]) {
    const fromFlag = str(o.flag);
    const fromEnv = process.env[o.env] || undefined;
    if (fromFlag !== undefined) [outputs[key], sources[key]] = [fromFlag, 'flag'];
    else if (fromEnv !== undefined) [outputs[key], sources[key]] = [fromEnv, 'env'];
  }
  if (required.some((k) => outputs[k] === undefined)) {
    const fromStack = await describeStackOutputs(stackName, target);
    for (const [key, value] of Object.entries(fromStack)) {
      if (key in OUTPUT_OVERRIDES && outputs[key as OutputKey] === undefined && value !== '') {
        outputs[key as OutputKey] = value;
        sources[key as OutputKey] = 'stack';
      }
    }
  }
  const missing = required.filter((k) => outputs[k] === undefined);
  if (missing.length > 0)
    throw new TargetError(
      `stack ${stackName} has no ${missing.join(', ')} output; pass ${missing.map((k) => `--${OUTPUT_OVERRIDES[k].flag}`).join(', ')}`,
    );
  const raftMembers = (outputs.RaftMembers ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  for (const m of raftMembers)
    if (!/^https?:\/\/[^/]+/.test(m)) throw new TargetError(`raft member '${m}' is not an http(s) URL`);
  return {
    target,
    stackName,
    region,
    endpoint,
    outputs,
    raftMembers,
    raftAuthSecret: await raftSecret(env),
    tradingAccount: str('trading-account') ?? env.TRADING_ACCOUNT ?? 'strategy-1',
    sources,
  };
}

async function describeStackOutputs(stackName: string, target: RemoteTarget): Promise<Record<string, string>> {
  const cfn = new CloudFormationClient({});
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new TargetError(`stack ${stackName} not found`);
    return Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } catch (err) {
    if (err instanceof TargetError) throw err;
    throw new TargetError(
      `could not read stack ${stackName} from CloudFormation on ${target} (${(err as Error).message}); ` +
        `deploy it (npm run deploy:${target}) or give the outputs as flags`,
    );
  } finally {
    cfn.destroy();
  }
}

async function raftSecret(env: z.infer<typeof TargetEnvSchema>): Promise<string | undefined> {
  if (env.RAFT_AUTH_SECRET !== undefined) return env.RAFT_AUTH_SECRET;
  if (env.RAFT_AUTH_SECRET_ARN === undefined) return undefined;
  const sm = new SecretsManagerClient({});
  try {
    const out = await sm.send(new GetSecretValueCommand({ SecretId: env.RAFT_AUTH_SECRET_ARN }));
    if (!out.SecretString) throw new TargetError(`secret ${env.RAFT_AUTH_SECRET_ARN} has no string value`);
    return out.SecretString;
  } finally {
    sm.destroy();
  }
}
