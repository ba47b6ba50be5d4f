import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { localizeJwksUri, USER_POOL_JWKS_URI } from './cognito';
import { startEdge, type Edge, type StartEdgeOptions } from './edge';
import { freePort } from './emulators/child-service';
import { startSqs } from './emulators/sqs';
import type { DynamoDbFlavour } from './emulators/dynamodb';
import type { LocalRuntime } from './runtime';
import { CloudWatchLogSink } from './runtime/log-sink';
import { SqsPollerClient } from './runtime/sqs-poller-client';
import { StackRuntimes } from './runtime/stack-runtimes';
import type { Deployment } from './deploy/deploy';
import { LOCAL_REGION, runCdk } from './deploy/cdk-cli';
import { LOCAL_ACCOUNT } from './sts';
import { RaftCluster } from './raft-cluster';
import { appendRecords, QueueRecorder, recordFiles, type RecordedMessage } from './records';
import { synthesize } from './deploy/synth';
import { invokeUrls } from './apigateway';
import { buildConsole } from '../console/build';
import { claimDataDir } from './data-dir';
import { createSqsClient, EMULATOR_CREDENTIALS, localEndpointEnv } from '../shared/aws/clients';
import { decodeScopedKey, encodeScopedKey, scopedKey } from '../shared/ledger-contract/auth';

export const STACK_NAME = 'PipelineStack';

/**
 * The CDK context the embedded cloud synthesizes PipelineStack with (the Raft members are added per run): LocalStack's
 * shape, with process reading through an enhanced fan-out consumer as on AWS (infra/config.ts; the embedded cloud
 * emulates the consumer, docs/local-cloud.md).
 */
export function embeddedContext(extra: Record<string, string> = {}): Record<string, string> {
  return {
    target: 'localstack',
    deployRaftCluster: 'false',
    kinesisEnhancedFanOut: 'true',
    ...extra,
  };
}

export interface EmbeddedStackOptions {
  /** Held by this stack alone while it runs (local-cloud/data-dir.ts): a second stack on it is refused. */
  dataDir: string;
  /** Empty the data dir first — once this stack holds it, so a running stack's dir is never emptied under it. */
  fresh?: boolean;
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
  /** DynamoDB Local or dynalite; by default the one the data dir holds, else DynamoDB Local when a JDK is present. */
  dynamodb?: DynamoDbFlavour;
  /** Called with every batch of order events recorded from the events queue. */
  onEvents?: (records: RecordedMessage[]) => void;
  /** The API Gateway emulation's options: the JWKS of local JWT issuers (the local Cognito), IAM keys, limits. */
  apigateway?: StartEdgeOptions['apigateway'];
}

/** What `npm run verify` and the status screen need to find a running embedded stack. */
export interface StackInfo {
  endpoint: string;
  dataDir: string;
  outputs: Record<string, string>;
  functions: Record<string, { name: string; logGroup: string }>;
  raftUrls: string[];
  tradingAccount: string;
  /** The deployed HTTP and WebSocket APIs with their local invoke URLs (one per stage). */
  apis: { name: string; id: string; protocol: string; urls: string[] }[];
}

export interface EmbeddedStack {
  info: StackInfo;
  edge: Edge;
  raft: RaftCluster;
  /** PipelineStack as last deployed (a `cdk deploy` from outside replaces it). */
  readonly deployment: Deployment;
  /** PipelineStack's functions, mappings and schedules as last deployed. */
  readonly runtime: LocalRuntime;
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
  const lock = claimDataDir(dataDir, {
    fresh: opts.fresh,
    onLost: (detail) => log(`the data dir is no longer this stack's alone: ${detail}`),
  });
  const cleanups: Cleanups = [async () => lock.release()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => log(`stop: ${(err as Error).message}`));
  };
  try {
    const { raft, edge, outdir, runtimes } = await startServices(opts, cleanups);
    const deployment = await deployPipeline(outdir, edge, raft, runtimes, log);
    await publishConsole(edge, deployment, opts.feed?.symbols ?? [], log);
    startEventRecorder(dataDir, deployment, edge.backends.sqs, opts, cleanups);
    const sqs = createSqsClient();
    cleanups.push(async () => sqs.destroy());
    const info = stackInfoOf(dataDir, edge, raft, deployment);
    writeFileSync(stackInfoFile(dataDir), JSON.stringify(info, null, 2));
    const current = () => {
      const deployed = runtimes.get(STACK_NAME);
      if (!deployed) throw new Error(`${STACK_NAME} is not deployed (a cdk destroy removed it)`);
      return deployed;
    };
    return {
      info,
      edge,
      raft,
      get deployment() {
        return current().deployment;
      },
      get runtime() {
        return current().runtime;
      },
      sqs,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Starts the Raft nodes and the edge (with its emulators) while PipelineStack is synthesized, all at once. */
async function startServices(
  opts: EmbeddedStackOptions,
  cleanups: Cleanups,
): Promise<{ raft: RaftCluster; edge: Edge; outdir: string; runtimes: StackRuntimes }> {
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
  // CloudFormation (in the edge) hands every deployed stack to the runtimes, which start once the edge is up.
  const holder: { runtimes?: StackRuntimes } = {};
  // allSettled, not all: when one start fails (a Ctrl-C reaching the synth), the others still in flight must land in
  // `cleanups` before the caller runs them, or what they start is left to exit on its own once this process is gone.
  const [edgeStart, ...otherStarts] = await Promise.allSettled([
    startEdge({
      port: opts.edgePort ?? 4566,
      dataDir,
      ...(opts.dynamodb ? { dynamodb: opts.dynamodb } : {}),
      ...(sqsService ? { backends: { sqs: sqsService.endpoint } } : {}),
      apigateway: { iamCredentials: localIamCredentials(), ...opts.apigateway },
      onStackChange: async (name, deployment) => {
        if (!holder.runtimes) throw new Error('the local Lambda runtime is not started yet');
        await holder.runtimes.apply(name, deployment);
      },
      log,
    }).then((e) => {
      cleanups.push(() => e.stop());
      log(
        `edge endpoint ${e.endpoint} (${(['kinesis', 'dynamodb', 'sqs'] as const).map((s) => `${e.emulators[s] ?? s} ${e.backends[s]}`).join(', ')}, logs in-process)`,
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
  for (const r of otherStarts) if (r.status === 'rejected') throw r.reason;
  if (edgeStart.status === 'rejected') throw edgeStart.reason;
  const edge = edgeStart.value;
  holder.runtimes = startRuntimes(dataDir, edge, raft, log, cleanups);
  const runtimes = holder.runtimes;
  edge.apigateway.setFunctions((stack, id) => runtimes.get(stack)?.runtime.functions[id]);
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s; deploying…`);
  return { raft, edge, outdir, runtimes: holder.runtimes };
}

/**
 * The keys the emulated API Gateway checks SigV4 signatures with: the emulator key (`test`/`test`, what the tools use
 * by default) and the key this process was started with, if any, so a caller signing with the same environment works.
 */
function localIamCredentials(): Record<string, string> {
  const keys: Record<string, string> = { [EMULATOR_CREDENTIALS.accessKeyId]: EMULATOR_CREDENTIALS.secretAccessKey };
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret } = process.env;
  if (id && secret) keys[id] = secret;
  return keys;
}

/**
 * Serves the web console at <edge>/_console/, configured with the deployed stack's public API URLs — the console
 * reaches the system only through them (Cognito sign-in, the HTTP API, the WebSocket API).
 */
async function publishConsole(edge: Edge, deployment: Deployment, symbols: string[], log: Log): Promise<void> {
  const urlOf = (protocol: 'HTTP' | 'WEBSOCKET') => {
    const api = deployment.apis.find((a) => a.protocol === protocol);
    return api && invokeUrls(edge.endpoint, api)[0];
  };
  const [httpApiUrl, webSocketUrl] = [urlOf('HTTP'), urlOf('WEBSOCKET')];
  const userPoolClientId = deployment.outputs.UserPoolClientId;
  if (!httpApiUrl || !webSocketUrl || !userPoolClientId) {
    log(`web console not served: ${STACK_NAME} lacks its HTTP API, WebSocket API or user pool client`);
    return;
  }
  const files = await buildConsole({
    region: LOCAL_REGION,
    httpApiUrl,
    webSocketUrl,
    cognitoEndpoint: `${edge.endpoint}/`,
    userPoolClientId,
    symbols,
  });
  edge.sites.publish('/_console/', files);
  log(`web console ${edge.endpoint}/_console/`);
}

/** The command a user runs to deploy PipelineStack again after changing code, against this edge. */
export function redeployCommand(endpoint: string, raftUrls: string[]): string {
  const context = Object.entries(embeddedContext({ raftMembers: raftUrls.join(',') }))
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');
  return `AWS_ENDPOINT_URL=${endpoint} npx cdk deploy ${STACK_NAME} ${context} -c raftAuthSecret=<any 16+ characters> --require-approval never`;
}

/**
 * Deploys the synthesized PipelineStack the way a user does, through the edge's CloudFormation with the pinned CDK
 * CLI: `cdk bootstrap` once per data dir, then `cdk deploy --app <assembly>` (assets zipped and uploaded to the
 * local S3, the template deployed by a change set); says what it created, and what it could not.
 */
async function deployPipeline(
  outdir: string,
  edge: Edge,
  raft: RaftCluster,
  runtimes: StackRuntimes,
  log: Log,
): Promise<Deployment> {
  const started = Date.now();
  // A data dir deployed before: its stacks come back first, so an unchanged `cdk deploy` (no changes) still has them.
  await edge.cloudformation.restore();
  const toolkit = edge.cloudformation.find('CDKToolkit');
  if (!toolkit || !/^(CREATE|UPDATE)_COMPLETE$/.test(toolkit.StackStatus)) {
    await runCdk(['bootstrap', `aws://${LOCAL_ACCOUNT}/${LOCAL_REGION}`], { endpoint: edge.endpoint, cwd: outdir });
  }
  await runCdk(['deploy', '--app', outdir, STACK_NAME, '--require-approval', 'never'], {
    endpoint: edge.endpoint,
    cwd: outdir,
  });
  const deployment = runtimes.get(STACK_NAME)?.deployment;
  if (!deployment) {
    throw new Error(`cdk deploy ${STACK_NAME} finished, but CloudFormation handed no deployment to the runtime`);
  }
  log(
    `deployed ${STACK_NAME} through CloudFormation (cdk deploy) in ${((Date.now() - started) / 1000).toFixed(1)} s: ` +
      `${Object.keys(deployment.resources).length} resources, ${Object.keys(deployment.functions).length} functions, ` +
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
  for (const api of deployment.apis) {
    log(
      `${api.protocol === 'HTTP' ? 'HTTP API' : 'WebSocket API'} ${api.name}: ${invokeUrls(edge.endpoint, api).join(' ')}`,
    );
  }
  log(`after a code change, deploy again with: ${redeployCommand(edge.endpoint, raft.httpUrls)}`);
  return deployment;
}

/**
 * The local Lambda runtime for the stacks CloudFormation deploys, recording every commands-queue delivery.
 * This process's SDK clients go through the edge from here on (AWS_ENDPOINT_URL is set to it).
 */
function startRuntimes(dataDir: string, edge: Edge, raft: RaftCluster, log: Log, cleanups: Cleanups): StackRuntimes {
  const clientEnv = localEndpointEnv(edge.endpoint);
  Object.assign(process.env, clientEnv);
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_ENDPOINT_URL_')) delete process.env[k];
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
    // fauxqs serves SNS on its SQS port (execute publishes the order events there).
    AWS_ENDPOINT_URL_SNS: edge.backends.sqs,
  };
  const records = recordFiles(dataDir);
  // Flushed once a second, as Lambda's own log delivery is not immediate either: every flush is a signed
  // PutLogEvents per active worker stream, and at 250 ms those calls cost more CPU than the lines they carry.
  const logs = new CloudWatchLogSink({ endpoint: edge.endpoint, flushIntervalMs: 1000 });
  const runtimes = new StackRuntimes({
    baseEnv: functionEnv,
    logs,
    checkpointFile: (stack) =>
      join(dataDir, 'runtime', stack === STACK_NAME ? 'checkpoints.json' : `${stack}.checkpoints.json`),
    kinesisPollIntervalMs: 50,
    ...(edge.kinesisWrites ? { kinesisWrites: edge.kinesisWrites } : {}),
    // The ledger is this cloud's own Raft nodes, whatever members the deployed template names; each function keeps
    // the scope it was synthesized with (execute orders:write, api read), re-issued from this cluster's root secret.
    environmentOverrides: {
      RAFT_MEMBERS: raft.httpUrls.join(','),
      RAFT_CLIENT_KEY: (synthesized) => reissueKey(synthesized, raft.secret),
      // Functions that verify user-pool tokens themselves fetch this cloud's keys from the edge, not Cognito's.
      [USER_POOL_JWKS_URI]: localizeJwksUri(edge.endpoint),
    },
    onError: (m) => log(`runtime: ${m}`),
    onSqsReceive: (deployment, queueUrl, messages) => {
      if (queueUrl === deployment.outputs.CommandsQueueUrl) appendRecords(records.commands, messages);
    },
  });
  cleanups.push(async () => {
    await runtimes.stop();
    await logs.close();
  });
  return runtimes;
}

/**
 * Starts the recorder that drains the events queue into the data dir. It is the embedded cloud's own poller, so it
 * reads the local SQS directly, as the mappings' pollers do, not through the edge.
 */
function startEventRecorder(
  dataDir: string,
  deployment: Deployment,
  sqsBackend: string,
  opts: EmbeddedStackOptions,
  cleanups: Cleanups,
): void {
  const eventsUrl = deployment.outputs.EventsQueueUrl;
  if (!eventsUrl) throw new Error(`${STACK_NAME} has no EventsQueueUrl output`);
  const sqs = new SqsPollerClient(sqsBackend);
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
    apis: deployment.apis.map((a) => ({
      name: a.name,
      id: a.id,
      protocol: a.protocol,
      urls: invokeUrls(edge.endpoint, a),
    })),
    tradingAccount:
      Object.values(deployment.functions).find((f) => f.environment.TRADING_ACCOUNT)?.environment.TRADING_ACCOUNT ?? '',
  };
}

/** A function's scoped key (RAFT_CLIENT_KEY) for the same scope under `secret`; the functions never get `secret`. */
function reissueKey(synthesized: string, secret: string | undefined): string {
  if (secret === undefined) throw new Error('the embedded Raft cluster has no root secret to issue client keys from');
  return encodeScopedKey(scopedKey(secret, decodeScopedKey(synthesized).scope));
}
