import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startEdge, type Edge } from './edge';
import { freePort } from './emulators/child-service';
import { startSqs } from './emulators/sqs';
import { startLocalRuntime, type LocalRuntime } from './runtime';
import { CloudWatchLogSink } from './runtime/log-sink';
import { deployTemplate, type Deployment } from './deploy/deploy';
import { RaftCluster } from './raft-cluster';
import { appendRecords, QueueRecorder, recordFiles, type RecordedMessage } from './records';
import { readStack, synthesize } from './deploy/synth';
import { createSqsClient, localEndpointEnv } from '../shared/aws/clients';
import { decodeScopedKey, encodeScopedKey, scopedKey } from '../shared/ledger-contract/auth';

export const STACK_NAME = 'PipelineStack';

/** The CDK context the embedded cloud synthesizes PipelineStack with (the Raft members are added per run). */
export function embeddedContext(extra: Record<string, string> = {}): Record<string, string> {
  return {
    target: 'localstack',
    deployRaftCluster: 'false',
    ...extra,
  };
}

export interface EmbeddedStackOptions {
  dataDir: string;
  /** Edge port (default 4566, LocalStack's); 0 picks a free one. */
  edgePort?: number;
  /** The scheduled market feed; off when absent. */
  feed?: { ticksPerSecond: number; symbols: string[] };
  /** More CDK context for the PipelineStack (any key infra/config.ts reads). */
  context?: Record<string, string>;
  /** Extra env for every raft node (CHAOS_*). */
  raftEnv?: Record<string, string>;
  log: (line: string) => void;
  /**
   * A cloud assembly synthesized earlier to deploy instead of synthesizing again (chaos runs reuse one);
   * the Raft members and secret are then set in the functions' environment at deploy time.
   */
  assemblyDir?: string;
  /**
   * Run fauxqs beside the edge rather than under it, so edge.restartEmulators() restarts only the
   * emulators that keep their data on disk (fauxqs keeps messages in memory; a restart would lose them,
   * which SQS itself never does).
   */
  sqsOutsideEdge?: boolean;
  /** Called with every batch of order events recorded from the events queue. */
  onEvents?: (records: RecordedMessage[]) => void;
}

/** What `npm run verify` and the status screen need to find a running embedded stack. */
export interface StackInfo {
  endpoint: string;
  dataDir: string;
  outputs: Record<string, string>;
  functions: Record<string, { name: string; logGroup: string }>;
  raftUrls: string[];
  tradingAccount: string;
}

export interface EmbeddedStack {
  info: StackInfo;
  edge: Edge;
  raft: RaftCluster;
  deployment: Deployment;
  runtime: LocalRuntime;
  sqs: SQSClient;
  stop(): Promise<void>;
}

export const stackInfoFile = (dataDir: string) => join(dataDir, 'stack.json');

type Log = (line: string) => void;
/** Where each started part registers how to stop it; they are stopped in reverse order. */
type Cleanups = (() => Promise<void>)[];

/**
 * The embedded cloud in one call: edge endpoint (+ emulators, logs), three Raft nodes, the
 * PipelineStack synthesized and deployed from its template, the local Lambda runtime, and the
 * recorder that drains the events queue into the data dir. This process's SDK clients go through the
 * edge (AWS_ENDPOINT_URL is set to it); the functions and the mappings' pollers call the emulators directly.
 */
export async function startEmbeddedStack(opts: EmbeddedStackOptions): Promise<EmbeddedStack> {
  const { dataDir, log } = opts;
  mkdirSync(dataDir, { recursive: true });
  const cleanups: Cleanups = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => log(`stop: ${(err as Error).message}`));
  };
  try {
    const { raft, edge, outdir } = await startServices(opts, cleanups);
    const clientEnv = localEndpointEnv(edge.endpoint);
    Object.assign(process.env, clientEnv);
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete process.env[k];
    const deployment = await deployPipeline(outdir, raft, log);
    const runtime = await startFunctions(dataDir, edge, clientEnv, deployment, log, cleanups);
    const sqs = startEventRecorder(dataDir, deployment, opts, cleanups);
    const info = stackInfoOf(dataDir, edge, raft, deployment);
    writeFileSync(stackInfoFile(dataDir), JSON.stringify(info, null, 2));
    return { info, edge, raft, deployment, runtime, sqs, stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Starts the Raft nodes and the edge (with its emulators) while PipelineStack is synthesized, all at once. */
async function startServices(
  opts: EmbeddedStackOptions,
  cleanups: Cleanups,
): Promise<{ raft: RaftCluster; edge: Edge; outdir: string }> {
  const { dataDir, log } = opts;
  const raft = await RaftCluster.create({
    dir: join(dataDir, 'raft'),
    secret: 'generate',
    ...(opts.raftEnv ? { env: opts.raftEnv } : {}),
  });
  const outdir = opts.assemblyDir ?? join(dataDir, 'cdk.out');
  const context = embeddedContext({
    raftMembers: raft.httpUrls.join(','),
    raftAuthSecret: raft.secret ?? '',
    feedEnabled: opts.feed ? 'true' : 'false',
    ...(opts.feed
      ? { feedTicksPerSecond: String(opts.feed.ticksPerSecond), feedSymbols: opts.feed.symbols.join(',') }
      : {}),
    ...opts.context,
  });
  log('starting the edge endpoint and emulators, the Raft nodes, and synthesizing PipelineStack…');
  const started = Date.now();
  const sqsService = opts.sqsOutsideEdge ? await startSqs(await freePort()) : undefined;
  if (sqsService) cleanups.push(() => sqsService.stop());
  const [edge] = await Promise.all([
    startEdge({
      port: opts.edgePort ?? 4566,
      dataDir,
      ...(sqsService ? { backends: { sqs: sqsService.endpoint } } : {}),
    }).then((e) => {
      cleanups.push(() => e.stop());
      log(
        `edge endpoint ${e.endpoint} (kinesis ${e.backends.kinesis}, dynamodb ${e.backends.dynamodb}, sqs ${e.backends.sqs}, logs in-process)`,
      );
      return e;
    }),
    raft.start().then(() => {
      cleanups.push(() => raft.stop());
      log(`raft nodes ${raft.nodes.map((n) => `${n.id}=${n.httpUrl}`).join(' ')}`);
    }),
    opts.assemblyDir
      ? Promise.resolve()
      : synthesize({ outdir, context }).then(() => log(`synthesized ${STACK_NAME} into ${outdir}`)),
  ]);
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s; deploying…`);
  return { raft, edge, outdir };
}

/** Deploys the synthesized PipelineStack's template and says what it created, and what it could not. */
async function deployPipeline(outdir: string, raft: RaftCluster, log: Log): Promise<Deployment> {
  const deployment = await deployTemplate({
    outdir,
    stack: readStack(outdir, STACK_NAME),
    environmentOverrides: {
      RAFT_MEMBERS: raft.httpUrls.join(','),
      // Each function keeps the scope it was synthesized with (execute orders:write, api read), re-issued from
      // this cluster's root secret: an assembly may have been synthesized against another cluster.
      RAFT_CLIENT_KEY: (synthesized) => reissueKey(synthesized, raft.secret),
    },
  });
  log(
    `deployed ${Object.keys(deployment.resources).length} resources: ${Object.keys(deployment.functions).length} functions, ` +
      `${deployment.kinesisMappings.length + deployment.sqsMappings.length} event source mappings, ${deployment.schedules.length} schedule(s)`,
  );
  if (deployment.notEmulated.length > 0) {
    const byType = new Map<string, number>();
    for (const r of deployment.notEmulated) byType.set(r.type, (byType.get(r.type) ?? 0) + 1);
    log(`NOT emulated (created nowhere locally): ${[...byType].map(([t, n]) => `${t} ×${n}`).join(', ')}`);
  }
  if (deployment.notEnforced.length > 0) {
    const types = [...new Set(deployment.notEnforced.map((r) => r.type))];
    log(`accepted but not enforced locally (access control): ${types.join(', ')}`);
  }
  return deployment;
}

/** Starts the local Lambda runtime (functions, mappings, schedules), recording every commands-queue delivery. */
async function startFunctions(
  dataDir: string,
  edge: Edge,
  clientEnv: Record<string, string>,
  deployment: Deployment,
  log: Log,
  cleanups: Cleanups,
): Promise<LocalRuntime> {
  // The functions (and the mappings' pollers) call the emulators directly: through the edge every request
  // and response would only be copied once more. Everything else (Secrets Manager, …) and every outside
  // client, the AWS CLI included, still uses the edge, which also translates the SQS query protocol and
  // hands out queue URLs on its own address (the patched fauxqs finds a queue by its URL's path, so those
  // URLs in the functions' environment work against it directly).
  const functionEnv = {
    ...clientEnv,
    AWS_ENDPOINT_URL_KINESIS: edge.backends.kinesis,
    AWS_ENDPOINT_URL_DYNAMODB: edge.backends.dynamodb,
    AWS_ENDPOINT_URL_SQS: edge.backends.sqs,
  };
  const records = recordFiles(dataDir);
  const commandsUrl = deployment.outputs.CommandsQueueUrl;
  const logs = new CloudWatchLogSink({ endpoint: edge.endpoint });
  const runtime = await startLocalRuntime(deployment, {
    baseEnv: functionEnv,
    logs,
    checkpointFile: join(dataDir, 'runtime', 'checkpoints.json'),
    kinesisPollIntervalMs: 50,
    onError: (m) => log(`runtime: ${m}`),
    onSqsReceive: (queueUrl, messages) => {
      if (queueUrl === commandsUrl) appendRecords(records.commands, messages);
    },
  });
  cleanups.push(async () => {
    await runtime.stop();
    await logs.close();
  });
  return runtime;
}

/** Starts the recorder that drains the events queue into the data dir; returns the SQS client it uses. */
function startEventRecorder(
  dataDir: string,
  deployment: Deployment,
  opts: EmbeddedStackOptions,
  cleanups: Cleanups,
): SQSClient {
  const sqs = createSqsClient();
  const eventsUrl = deployment.outputs.EventsQueueUrl;
  if (!eventsUrl) throw new Error(`${STACK_NAME} has no EventsQueueUrl output`);
  const recorder = new QueueRecorder(
    sqs,
    eventsUrl,
    recordFiles(dataDir).events,
    (r) => opts.onEvents?.(r),
    (m) => opts.log(m),
  );
  recorder.start();
  cleanups.push(async () => {
    await recorder.stop();
    sqs.destroy();
  });
  return sqs;
}

function stackInfoOf(dataDir: string, edge: Edge, raft: RaftCluster, deployment: Deployment): StackInfo {
  return {
    endpoint: edge.endpoint,
    dataDir,
    outputs: deployment.outputs,
    functions: Object.fromEntries(
      Object.entries(deployment.functions).map(([id, f]) => [
        id,
        { name: f.name, logGroup: f.logGroup ?? `/aws/lambda/${f.name}` },
      ]),
    ),
    raftUrls: raft.httpUrls,
    tradingAccount:
      Object.values(deployment.functions).find((f) => f.environment.TRADING_ACCOUNT)?.environment.TRADING_ACCOUNT ?? '',
  };
}

/** A function's scoped key (RAFT_CLIENT_KEY) for the same scope under `secret`; the functions never get `secret`. */
function reissueKey(synthesized: string, secret: string | undefined): string {
  if (secret === undefined) throw new Error('the embedded Raft cluster has no root secret to issue client keys from');
  return encodeScopedKey(scopedKey(secret, decodeScopedKey(synthesized).scope));
}
