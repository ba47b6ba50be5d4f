import type { Node } from 'constructs';
import { z } from 'zod';
import { DEFAULT_HISTORY_RETENTION_DAYS, ORDER_RECORD_MIN_DAYS } from '../shared/domain/order-history';

/**
 * Every tunable of the CDK app is a context value (`-c key=value` on the CLI, or `context` in cdk.json).
 * Values given on the CLI arrive as strings, so numbers and booleans are coerced; a bad value fails the
 * synth with the key's name. Defaults that differ per target are resolved in `loadInfraConfig`.
 */

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);
const commaList = z.union([
  z.array(z.string().min(1)),
  z
    .string()
    .min(1)
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0),
    ),
]);

const VALID_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653];

export const TARGETS = ['aws', 'localstack'] as const;
export type Target = (typeof TARGETS)[number];

/** Context keys with their defaults; `undefined` defaults are resolved per target below. */
const ContextSchema = z.object({
  /** Where the app is deployed: `aws` (default) or `localstack`. */
  target: z.enum(TARGETS).default('aws'),
  /** Account/region for the stacks; default: the CLI's (CDK_DEFAULT_*), region us-east-1 if none. */
  account: z
    .string()
    .regex(/^\d{12}$/, 'a 12-digit AWS account id')
    .optional(),
  region: z.string().min(1).optional(),

  /** Deploy RaftClusterStack (ECS Fargate). Default: true on aws, false on localstack (free plan: no ECS). */
  deployRaftCluster: flag.optional(),
  /** Raft members' HTTP base URLs when the cluster is not deployed by this app (compose or elsewhere). */
  raftMembers: commaList.optional(),
  /** Plain shared secret for the functions when the cluster runs outside the app (LocalStack + compose). */
  raftAuthSecret: z.string().min(16, 'at least 16 characters').optional(),
  /** ARN of an existing Secrets Manager secret for the functions when the cluster runs outside the app. */
  raftAuthSecretArn: z.string().startsWith('arn:').optional(),
  /**
   * Target aws: the IAM permissions boundary on every role the stacks create (the name of a managed policy in
   * the account). Default: the boundary `cdk bootstrap --example-permissions-boundary` creates. "none" = no
   * boundary (only for an account whose deploy role is already restricted another way).
   */
  permissionsBoundary: z
    .string()
    .regex(/^[\w+=,.@-]{1,128}$/, 'an IAM managed policy name')
    .default('cdk-hnb659fds-permissions-boundary'),
  /** Per-request timeout of the ledger client in execute/api. */
  raftRequestTimeoutMs: integer(100, 60_000).default(3000),

  /** Kinesis shards (provisioned mode). */
  shardCount: integer(1, 500).default(1),
  /** Kinesis stream retention. */
  streamRetentionHours: integer(24, 8760).default(24),
  /**
   * Most ticks per invocation of a stream consumer (process, market-data, the notifier's prices). With no batching
   * window a batch holds what arrived while the previous one ran, so a larger cap costs no latency at low rates, and
   * at high ones each invocation's fixed calls (one state transaction, one SendMessageBatch) carry more ticks: at
   * 100, process fell behind 1,000 ticks/s on the embedded cloud; at 500 it keeps up (docs/performance.md, session 29).
   */
  kinesisBatchSize: integer(1, 10_000).default(500),
  /**
   * How long Lambda may wait to fill a batch. AWS takes whole seconds only (0–300), and the latency target
   * (tick→event p99 ≤ 250 ms) leaves no room for even one: 0 invokes as soon as records are there, and at a
   * high tick rate the batches still fill from what arrived during the previous invoke (docs/deploy.md).
   */
  kinesisBatchingWindowSeconds: integer(0, 300).default(0),
  /**
   * Retries of a failed tick batch before its mapping gives up on it (hands the shard and sequence range to the
   * consumer's failure queue and moves on: those ticks never become orders). -1, the default, retries until the
   * batch is older than kinesisMaxRecordAgeSeconds: a consumer sets poison aside itself at once, so a batch fails only
   * on what a retry can fix (DynamoDB or SQS unreachable), and a bounded count turned a 10 s outage into lost ticks
   * (docs/architecture.md, "Poison input").
   */
  kinesisRetryAttempts: integer(-1, 10_000).default(-1),
  kinesisMaxRecordAgeSeconds: integer(60, 604_800).default(3600),
  kinesisParallelizationFactor: integer(1, 10).default(1),
  /**
   * Process reads the stream through an enhanced fan-out consumer of its own (its own 2 MiB/s per shard, pushed over
   * HTTP/2, ~70 ms instead of ~200 ms+ polling) rather than the shared 2 MiB/s / 5 reads/s per shard; market data and
   * the notifier's prices keep polling (nothing waits on them). Default: on for aws and on the embedded cloud — the
   * polled read alone is a 0–200 ms wait per tick, most of the latency target (tick→event p50 ≤ 50 ms, p99 ≤ 250 ms
   * at 500 orders/s: docs/performance.md) — at about $11 a month per shard plus $0.013 per GB read (docs/deploy.md).
   * Off on LocalStack: whether its Lambda reads through a consumer is not tested here (no Docker). The embedded cloud
   * emulates it (kinesalite has no SubscribeToShard: the consumer's mapping reads every 20 ms instead of every 200;
   * docs/local-cloud.md).
   */
  kinesisEnhancedFanOut: flag.optional(),
  /** SQS → execute mapping (FIFO: at most 10). */
  sqsBatchSize: integer(1, 10).default(10),
  /**
   * High-throughput FIFO on the commands and events queues (and their DLQs): deduplication and the throughput
   * quota per message group (symbol) instead of per queue — 300 msg/s per queue (3,000 batched) becomes a quota
   * per group, up to tens of thousands of msg/s per queue. No extra cost; a dedup id (the orderId) always travels
   * in the same group, so per-group dedup loses nothing. On by default on every target (docs/deploy.md).
   */
  fifoHighThroughput: flag.default(true),
  /** Receives before a command or event goes to its DLQ. */
  maxReceiveCount: integer(1, 1000).default(5),

  /** Functions. */
  logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT', 'CRITICAL']).default('INFO'),
  logRetentionDays: z.coerce
    .number()
    .int()
    .refine((days) => VALID_RETENTION_DAYS.includes(days), {
      message: `one of ${VALID_RETENTION_DAYS.join(', ')}`,
    })
    .default(14),
  functionMemoryMb: integer(128, 10_240).default(256),
  ingestTimeoutSeconds: integer(3, 900).default(60),
  processTimeoutSeconds: integer(3, 900).default(30),
  executeTimeoutSeconds: integer(3, 900).default(30),
  apiTimeoutSeconds: integer(3, 29).default(10),

  /**
   * Market data (market-data, GET /ticks, GET /candles): DynamoDB TTL per table, in days. Ticks count from
   * ingest, candles from their bucket's start. Ticks must outlive the stream's retention: a redelivered tick is
   * recognised by its stored item, so one expired before its record leaves the stream would be counted twice.
   */
  ticksRetentionDays: integer(1, 3650).default(7),
  candles1mRetentionDays: integer(1, 3650).default(30),
  candles5mRetentionDays: integer(1, 3650).default(90),
  candles1hRetentionDays: integer(1, 3650).default(365),
  marketDataTimeoutSeconds: integer(3, 900).default(30),

  /** Market feed run by the schedule (EventBridge Scheduler → ingest). */
  feedEnabled: flag.default(true),
  feedRateMinutes: integer(1, 1440).default(1),
  feedSymbols: commaList.default(['AAPL', 'MSFT', 'AMZN']),
  feedTicksPerSecond: integer(1, 10_000).default(5),
  feedSeed: integer(0, 2 ** 31 - 1).default(42),

  /** Strategy (moving-average crossover) run by process. */
  /** Strategy from the registry in shared/domain/strategy (default: the function's, the MA crossover). */
  strategyName: z.string().min(1).optional(),
  strategyFastWindow: integer(1, 1000).default(5),
  strategySlowWindow: integer(2, 1000).default(20),
  strategyOrderQuantity: integer(1, 1_000_000).default(10),
  tradingAccount: z.string().min(1).default('strategy-1'),

  /**
   * How long an order stays in the order history (its execution record's TTL in OrdersTable, counted from the order's
   * creation); at least 14 days, which a record must outlive its command's redeliveries by.
   */
  orderHistoryRetentionDays: integer(ORDER_RECORD_MIN_DAYS, 3650).default(DEFAULT_HISTORY_RETENTION_DAYS),
  /**
   * OrdersTable's history indexes. `by-account` is the first of two deploys that upgrade a stack deployed before the
   * history moved into OrdersTable: CloudFormation adds one global secondary index per update, so that deploy adds
   * ByAccount and GET /orders?symbol= answers 503 until the second (`all`, the default) adds BySymbol.
   */
  orderHistoryIndexes: z.enum(['all', 'by-account']).default('all'),

  /** HTTP API stage throttling. */
  apiThrottleRatePerSecond: integer(1, 100_000).default(200),
  apiThrottleBurst: integer(1, 100_000).default(400),
  /** POST /orders: orders per second per account before 429 (functions/orders). */
  orderRateLimitPerSecond: integer(1, 10_000).default(10),

  /** Alarms. */
  iteratorAgeAlarmMs: integer(1000, 604_800_000).default(60_000),
  alarmEmail: z.email().optional(),

  /**
   * Bump after giving the root secret (RAFT_AUTH_SECRET) a new value: the RaftClientKeys custom resource then
   * re-issues the functions' scoped keys from it (docs/security.md, rotation).
   */
  raftClientKeysRevision: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ., _ or - (at most 64)')
    .default('1'),
  /**
   * During a rotation (docs/security.md): which node secrets also inject their previous value (Secrets Manager's
   * AWSPREVIOUS stage) as RAFT_AUTH_SECRET_PREVIOUS / RAFT_PEER_SECRET_PREVIOUS, so old credentials stay valid
   * while the nodes and functions move to the new one. Only after a put-secret-value: before one there is no
   * previous version, and a task asking for it does not start.
   */
  raftSecretRotation: z.enum(['none', 'auth', 'peer', 'both']).default('none'),

  /** Keep tables, the EFS file system and the secret on stack deletion. Default: true on aws, false on localstack. */
  retainData: flag.optional(),

  /** Raft cluster (RaftClusterStack). */
  maxAzs: integer(1, 3).default(2),
  raftNamespace: z
    .string()
    .regex(/^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'a DNS name such as raft.internal')
    .default('raft.internal'),
  raftHttpPort: integer(1, 65_535).default(8080),
  /** The nodes' binary client protocol (PORT_CLIENT), what the functions' ledger client uses for orders. */
  raftClientPort: integer(1, 65_535).default(8090),
  raftPeerPort: integer(1, 65_535).default(7000),
  raftDataDir: z.string().startsWith('/').default('/data'),
  /** RAFT_CLUSTER_ID of every node: a node handed another cluster's volume refuses to start. */
  raftClusterId: z
    .string()
    // The node's own check (raft-node/src/config.ts): a value it refuses would stop every node at start.
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ or - (at most 64)')
    .default('trading-ledger'),
  raftNodeUid: integer(1, 65_534).default(1000),
  raftNodeCpu: z.coerce
    .number()
    .int()
    .refine((cpu) => [256, 512, 1024, 2048, 4096].includes(cpu), { message: 'one of 256, 512, 1024, 2048, 4096' })
    .default(256),
  raftNodeMemoryMb: integer(512, 30_720).default(512),
  raftNodeArchitecture: z.enum(['arm64', 'x86_64']).default('arm64'),
  containerInsights: flag.default(true),
});

/** Every context key the app reads (for `tryGetContext` and the docs). */
export const CONTEXT_KEYS = Object.keys(ContextSchema.shape) as (keyof typeof ContextSchema.shape)[];

export type InfraConfig = Omit<
  z.infer<typeof ContextSchema>,
  'deployRaftCluster' | 'retainData' | 'kinesisEnhancedFanOut'
> & {
  deployRaftCluster: boolean;
  kinesisEnhancedFanOut: boolean;
  retainData: boolean;
  /** Compose service URLs when the cluster is not deployed by the app and none are given. */
  raftMembers: string[] | undefined;
};

/** The compose services' addresses as the Lambda containers on the compose network see them. */
export function composeRaftMembers(httpPort: number): string[] {
  return ['raft-n1', 'raft-n2', 'raft-n3'].map((host) => `http://${host}:${httpPort}`);
}

export class InfraConfigError extends Error {}

export function loadInfraConfig(node: Node): InfraConfig {
  const raw: Record<string, unknown> = {};
  for (const key of CONTEXT_KEYS) {
    const value: unknown = node.tryGetContext(key);
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const parsed = ContextSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `context "${issue.path.join('.')}": ${issue.message}`);
    throw new InfraConfigError(`Invalid CDK context: ${problems.join('; ')}`);
  }
  const context = parsed.data;
  const onAws = context.target === 'aws';
  const deployRaftCluster = context.deployRaftCluster ?? onAws;
  if (context.strategyFastWindow >= context.strategySlowWindow) {
    throw new InfraConfigError('Invalid CDK context: "strategyFastWindow" must be smaller than "strategySlowWindow"');
  }
  if (context.ticksRetentionDays * 24 < context.streamRetentionHours) {
    throw new InfraConfigError(
      'Invalid CDK context: "ticksRetentionDays" must cover "streamRetentionHours" (a redelivered tick is ' +
        'recognised by its stored item; one that expired first would be counted twice)',
    );
  }
  if (onAws && context.raftAuthSecret !== undefined) {
    // A plaintext context value ends up in cdk.out, the template and the functions' environment.
    throw new InfraConfigError(
      'Invalid CDK context: "raftAuthSecret" (plaintext) is refused on target aws; store the secret in ' +
        'Secrets Manager and give its ARN as "raftAuthSecretArn"',
    );
  }
  if (context.raftAuthSecret !== undefined && context.raftAuthSecretArn !== undefined) {
    throw new InfraConfigError('Invalid CDK context: give "raftAuthSecret" or "raftAuthSecretArn", not both');
  }
  if (deployRaftCluster && (context.raftMembers !== undefined || context.raftAuthSecret !== undefined)) {
    throw new InfraConfigError(
      'Invalid CDK context: "raftMembers"/"raftAuthSecret" are for a cluster run outside the app; ' +
        'with "deployRaftCluster" the members and secret come from RaftClusterStack',
    );
  }
  let raftMembers = context.raftMembers;
  if (!deployRaftCluster && raftMembers === undefined) {
    if (onAws) {
      throw new InfraConfigError(
        'Invalid CDK context: "raftMembers" is required on target aws when "deployRaftCluster" is false',
      );
    }
    raftMembers = composeRaftMembers(context.raftHttpPort);
  }
  // LocalStack + compose: the same RAFT_AUTH_SECRET the compose nodes get from the shell, if none is in context.
  const raftAuthSecret =
    context.raftAuthSecret ??
    (!onAws && !deployRaftCluster && context.raftAuthSecretArn === undefined
      ? nonEmpty(process.env.RAFT_AUTH_SECRET)
      : undefined);
  // execute and api refuse to start without exactly one of RAFT_AUTH_SECRET / RAFT_AUTH_SECRET_ARN.
  if (!deployRaftCluster && raftAuthSecret === undefined && context.raftAuthSecretArn === undefined) {
    throw new InfraConfigError(
      onAws
        ? 'Invalid CDK context: "raftAuthSecretArn" is required on target aws when "deployRaftCluster" is false'
        : 'Invalid CDK context: "raftAuthSecret" (or RAFT_AUTH_SECRET in the environment, the value the compose ' +
            'nodes got) or "raftAuthSecretArn" is required when the Raft cluster runs outside the app',
    );
  }
  return {
    ...context,
    deployRaftCluster,
    raftMembers,
    raftAuthSecret,
    retainData: context.retainData ?? onAws,
    kinesisEnhancedFanOut: context.kinesisEnhancedFanOut ?? onAws,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
