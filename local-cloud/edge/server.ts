import { StaticSites } from './static-site';
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { freePort, type ChildService } from '../emulators/child-service';
import { startDynamoDb, type DynamoDbFlavour } from '../emulators/dynamodb';
import { startKinesis } from '../emulators/kinesis';
import { WriteSignal } from '../emulators/write-signal';
import { startSqs } from '../emulators/sqs';
import { createLogsEmulator, type LogsEmulator } from '../logs-emulator';
import { BodyTooLarge, readBody } from './body';
import { ApiGatewayEmulator, type ApiGatewayOptions, type WebSocketLimits } from '../apigateway';
import { cloudFormationService } from '../cloudformation/api';
import { CloudFormationEngine } from '../cloudformation/engine';
import type { Deployment } from '../deploy/deploy';
import { serveS3 } from '../s3/api';
import { S3Store } from '../s3/store';
import { CognitoIdp, jwksPoolId } from '../cognito';
import { SecretsManagerStore } from '../secrets-manager';
import { SsmParameterStore } from '../ssm';
import { stsService } from '../sts';
import { serveJson } from './json-service';
import { serveQuery, type QueryService } from './query-service';
import { EDGE_SERVICES, routeRequest, type EdgeService } from './routing';
import {
  escapeXml,
  jsonErrorToQueryXml,
  jsonToQueryXml,
  queryToJson,
  SqsQueryError,
  sqsQueryErrorHeader,
} from './sqs-query';
import { rewriteSqsRequest, rewriteSqsResponse, toBackendQueueUrl, type SqsUrlContext } from './sqs-urls';

/** The services the edge answers itself (the others are proxied to an emulator process). */
type InProcessService =
  'logs' | 'sts' | 'ssm' | 's3' | 'cloudformation' | 'secretsmanager' | 'apigateway' | 'cognito-idp';
/** Services served by another service's emulator: fauxqs answers SNS (query protocol) on its SQS port. */
const SHARED_BACKEND = { sns: 'sqs' } as const;
export type ProxiedService = Exclude<EdgeService, InProcessService | keyof typeof SHARED_BACKEND>;
const PROXIED: readonly ProxiedService[] = ['kinesis', 'dynamodb', 'sqs'];
export const DEFAULT_EDGE_PORT = 4566;
/** What a deploy of a Docker image asset (RaftClusterStack's node image) is told: the CDK CLI asks ECR first. */
export const NO_DOCKER_IMAGES =
  'Docker image assets cannot be deployed to the embedded cloud: it has no Docker and no ECR (RaftClusterStack builds one); deploy PipelineStack, whose Raft ledger nodes npm start runs';
/** Unsigned GETs here answer with the services' state (the first is LocalStack's path; `/` serves readiness probes). */
const HEALTH_PATHS = new Set(['/_localstack/health', '/_edge/health', '/']);
const DEFAULT_REGION = 'us-east-1';

export interface StartEdgeOptions {
  /** Default 4566 (LocalStack's); 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Logs go to `<dataDir>/logs`, kinesalite and DynamoDB Local to `<dataDir>/kinesis|dynamodb`; in memory when absent. */
  dataDir?: string;
  /** DynamoDB Local or dynalite, when the edge starts DynamoDB; chosen by chooseDynamoDbFlavour when absent. */
  dynamodb?: DynamoDbFlavour;
  /** Endpoints of emulators already running; the ones not given are started (and stopped) by the edge. */
  backends?: Partial<Record<ProxiedService, string>>;
  /** Told when a CloudFormation stack's functions change or go (the local Lambda runtime follows it). */
  onStackChange?: (stackName: string, deployment: Deployment | undefined) => Promise<void>;
  /** Where CloudFormation's stack transitions are logged. */
  log?: (line: string) => void;
  /** The API Gateway emulation's JWT key resolver, IAM credentials and WebSocket limits. */
  apigateway?: Pick<ApiGatewayOptions, 'resolveJwks' | 'iamCredentials'> & { websocket?: WebSocketLimits };
}

export interface Edge {
  /** `http://<host>:<port>` — give it to clients as AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  readonly port: number;
  /** Where each proxied service really runs. */
  readonly backends: Readonly<Record<ProxiedService, string>>;
  /** Each emulator the edge started, by service: its name with the program, e.g. `dynamodb (dynalite)`. */
  readonly emulators: Readonly<Partial<Record<ProxiedService, string>>>;
  /** Fires as records land in the kinesalite this edge started (undefined when Kinesis was given in `backends`). */
  readonly kinesisWrites: WriteSignal | undefined;
  /** The in-process CloudWatch Logs emulator. */
  readonly logs: LogsEmulator;
  /** The in-process S3, SSM Parameter Store and CloudFormation. */
  readonly s3: S3Store;
  readonly ssm: SsmParameterStore;
  /** In memory only: the embedded cloud never writes a secret to disk. */
  readonly secretsManager: SecretsManagerStore;
  /** The user pools (kept in `<dataDir>/cognito.json`); `cognito.resolveJwks` is the JWT authorizer's key source. */
  readonly cognito: CognitoIdp;
  readonly cloudformation: CloudFormationEngine;
  /** The HTTP and WebSocket APIs of the deployed stacks, served on this endpoint. */
  readonly apigateway: ApiGatewayEmulator;
  /** Static sites served on unsigned GETs under a prefix (the web console). */
  readonly sites: StaticSites;
  /** Stops and starts again the emulators the edge started (same ports, same data); the edge keeps serving. */
  restartEmulators(): Promise<void>;
  stop(): Promise<void>;
}

type Starter = (port: number) => Promise<ChildService>;

/** The emulators the edge started itself (the others were given): each with how to start it again. */
type OwnedEmulators = Map<ProxiedService, { child: ChildService; start: Starter }>;

/** Starts the emulators not given in `opts.backends`, all at once; on any failure stops the ones that started. */
async function startOwnedEmulators(opts: StartEdgeOptions, kinesisWrites: WriteSignal): Promise<OwnedEmulators> {
  const starters: Record<ProxiedService, Starter> = {
    kinesis: (port) => startKinesis(port, opts.dataDir && join(opts.dataDir, 'kinesis'), () => kinesisWrites.notify()),
    dynamodb: (port) => startDynamoDb(port, opts.dataDir && join(opts.dataDir, 'dynamodb'), opts.dynamodb),
    sqs: (port) => startSqs(port),
  };
  const owned: OwnedEmulators = new Map();
  const toStart = PROXIED.filter((s) => opts.backends?.[s] === undefined);
  const ports = await Promise.all(toStart.map(() => freePort()));
  const started = await Promise.allSettled(toStart.map((s, i) => starters[s](ports[i] as number)));
  const failures: string[] = [];
  started.forEach((result, i) => {
    const service = toStart[i] as ProxiedService;
    if (result.status === 'fulfilled') owned.set(service, { child: result.value, start: starters[service] });
    else failures.push(String(result.reason));
  });
  if (failures.length > 0) {
    await stopOwned(owned);
    throw new Error(`edge: emulators failed to start:\n${failures.join('\n')}`);
  }
  return owned;
}

const stopOwned = (owned: OwnedEmulators) => Promise.all([...owned.values()].map((o) => o.child.stop()));

/**
 * Starts the edge: one HTTP endpoint in front of kinesalite, DynamoDB Local (or dynalite), fauxqs and
 * the CloudWatch Logs emulator, routing by the service each request is signed for.
 */
export async function startEdge(opts: StartEdgeOptions = {}): Promise<Edge> {
  const host = opts.host ?? '127.0.0.1';
  const kinesisWrites = new WriteSignal();
  const owned = await startOwnedEmulators(opts, kinesisWrites);
  const backends = {} as Record<ProxiedService, string>;
  for (const service of PROXIED) backends[service] = opts.backends?.[service] ?? owned.get(service)!.child.endpoint;
  const logs = createLogsEmulator({ dataDir: opts.dataDir && join(opts.dataDir, 'logs') });
  const s3 = new S3Store(opts.dataDir && join(opts.dataDir, 's3'));
  const ssm = new SsmParameterStore(opts.dataDir && join(opts.dataDir, 'ssm.json'));
  const secretsManager = new SecretsManagerStore();
  const cognito = new CognitoIdp(opts.dataDir && join(opts.dataDir, 'cognito.json'));
  const endpoint = { url: '' };
  const apigateway = new ApiGatewayEmulator({
    ...opts.apigateway,
    // JWT authorizers trust this edge's own user pools for their Cognito issuers (a given resolver is asked first).
    resolveJwks: async (issuer) => (await opts.apigateway?.resolveJwks?.(issuer)) ?? cognito.resolveJwks(issuer),
    writeAccessLog: (group, stream, message) => writeLogLine(logs, group, stream, message),
  });
  const cloudformation = new CloudFormationEngine({
    ...(opts.dataDir ? { dataDir: join(opts.dataDir, 'cloudformation') } : {}),
    endpoint: () => endpoint.url,
    s3,
    ssm,
    cognito,
    // The runtime takes the new functions first, so a request the new routes admit finds them.
    onStackChange: async (name, deployment) => {
      await opts.onStackChange?.(name, deployment);
      apigateway.apply(name, deployment?.apis);
    },
    ...(opts.log ? { log: opts.log } : {}),
  });
  const sites = new StaticSites();
  const router = new EdgeRouter(backends, logs, apigateway, {
    sites,
    s3,
    ssm,
    secretsManager,
    cognito,
    cloudformation: cloudFormationService(cloudformation, s3),
  });
  const server = createServer({ keepAlive: true }, (req, res) => {
    router.route(req, res).catch((err: unknown) => sendError(res, 500, 'InternalFailure', (err as Error).message));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const taken = apigateway.upgrade(req, socket, head);
    if (!taken) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else taken.catch(() => socket.destroy());
  });

  const port = opts.port ?? DEFAULT_EDGE_PORT;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    await stopOwned(owned);
    logs.close();
    throw new Error(`edge: cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  const boundPort = (server.address() as AddressInfo).port;
  router.endpoint = `http://${host}:${boundPort}`;
  endpoint.url = router.endpoint;

  return {
    endpoint: router.endpoint,
    port: boundPort,
    backends,
    emulators: Object.fromEntries([...owned].map(([service, entry]) => [service, entry.child.name])),
    kinesisWrites: owned.has('kinesis') ? kinesisWrites : undefined,
    logs,
    s3,
    ssm,
    secretsManager,
    cognito,
    cloudformation,
    apigateway,
    sites,
    restartEmulators: async () => {
      await Promise.all(
        [...owned.values()].map(async (entry) => {
          await entry.child.stop();
          entry.child = await entry.start(entry.child.port);
        }),
      );
    },
    stop: async () => {
      await cloudformation.idle();
      apigateway.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      router.close();
      await stopOwned(owned);
      logs.close();
    },
  };
}

/** Routes each request to its service: the logs emulator in-process, the others proxied to their backends. */
class EdgeRouter {
  /** The edge's own address, known once it listens (queue URLs are handed out on it). */
  endpoint = '';
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly backends: Record<ProxiedService, string>,
    private readonly logs: LogsEmulator,
    private readonly apigateway: ApiGatewayEmulator,
    private readonly local: {
      sites: StaticSites;
      s3: S3Store;
      ssm: SsmParameterStore;
      secretsManager: SecretsManagerStore;
      cognito: CognitoIdp;
      cloudformation: QueryService;
    },
  ) {}

  close(): void {
    this.agent.destroy();
  }

  async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    // execute-api requests come first: they are addressed by path or host, and may be signed for execute-api.
    const executeApi = this.apigateway.handle(req, res);
    if (executeApi) return executeApi;
    const decision = routeRequest(req.headers, url);
    if (decision.kind === 'unsigned') {
      if (this.local.sites.serve(req, res)) return;
      if ((req.method === 'GET' || req.method === 'HEAD') && HEALTH_PATHS.has(url.split('?')[0] as string)) {
        await this.sendHealth(res);
        return;
      }
      const poolId = req.method === 'GET' ? jwksPoolId(url.split('?')[0] as string, req.headers.host) : undefined;
      if (poolId !== undefined) {
        const jwks = this.local.cognito.jwks(poolId);
        if (jwks) sendJson(res, 200, jwks);
        else sendError(res, 404, 'ResourceNotFoundException', `User pool ${poolId} does not exist.`);
        return;
      }
      sendError(
        res,
        400,
        'UnrecognizedServiceException',
        `cannot tell which service this request is for: it carries no SigV4 Authorization header, X-Amz-Target or X-Amz-Credential. Supported services: ${EDGE_SERVICES.join(', ')}`,
      );
      return;
    }
    if (decision.kind === 'unsupported') {
      const message = /^ecr/.test(decision.service)
        ? NO_DOCKER_IMAGES
        : `the edge does not emulate service '${decision.service}' (named by ${decision.source}); supported services: ${EDGE_SERVICES.join(', ')}`;
      // JSON-protocol clients send X-Amz-Target; the others (query, REST-XML) read errors as XML.
      if (req.headers['x-amz-target'] === undefined) sendXmlError(res, 400, 'UnsupportedService', message);
      else sendError(res, 400, 'UnsupportedServiceException', message);
      return;
    }
    const region = decision.region ?? DEFAULT_REGION;
    switch (decision.service) {
      case 'logs':
        return this.logs.handle(req, res);
      case 'sts':
        return serveQuery(stsService, req, res, region);
      case 'cloudformation':
        return serveQuery(this.local.cloudformation, req, res, region);
      case 'ssm':
        return serveJson(this.local.ssm, req, res, region);
      case 'secretsmanager':
        return serveJson(this.local.secretsManager, req, res, region);
      case 'apigateway':
        return this.apigateway.control(req, res);
      case 'cognito-idp':
        return serveJson(this.local.cognito, req, res, region);
      case 's3':
        return serveS3(this.local.s3, req, res, region);
      default:
        break;
    }
    if (decision.service === 'sqs') {
      await this.proxySqs(req, res, decision.region ?? DEFAULT_REGION);
      return;
    }
    // SNS needs no translation (fauxqs speaks its query protocol and ARNs carry no host), so it streams.
    if (decision.service === 'sns') {
      return this.proxyStreaming(req, res, SHARED_BACKEND.sns, { cap: MAX_SNS_REQUEST_BYTES, name: 'sns' });
    }
    this.proxyStreaming(req, res, decision.service);
  }

  private async sendHealth(res: ServerResponse): Promise<void> {
    const states = await Promise.all(
      PROXIED.map(async (s) => [s, (await this.isUp(this.backends[s])) ? 'running' : 'unavailable']),
    );
    for (const [shared, backend] of Object.entries(SHARED_BACKEND))
      states.push([shared, states.find(([s]) => s === backend)?.[1] ?? 'unavailable']);
    const inProcess = ['logs', 'sts', 'ssm', 's3', 'cloudformation', 'secretsmanager', 'apigateway', 'cognito-idp'];
    const services = Object.fromEntries([...states, ...inProcess.map((s) => [s, 'running'])]) as Record<
      EdgeService,
      string
    >;
    const local = Object.fromEntries(inProcess.map((s) => [s, 'in-process']));
    sendJson(res, 200, { services, edition: 'embedded', backends: { ...this.backends, ...local } });
  }

  private isUp(endpoint: string): Promise<boolean> {
    return new Promise((resolve) => {
      const probe = request(endpoint, { method: 'GET', timeout: 1000, agent: this.agent }, (r) => {
        r.resume();
        resolve(true);
      });
      probe.on('timeout', () => probe.destroy());
      probe.on('error', () => resolve(false));
      probe.end();
    });
  }

  private backendRequest(
    service: ProxiedService,
    target: { method: string; path: string; headers: IncomingMessage['headers'] },
    onResponse: (r: IncomingMessage) => void,
    res: ServerResponse,
  ) {
    const backend = new URL(this.backends[service]);
    const out = request({ host: backend.hostname, port: backend.port, ...target, agent: this.agent }, onResponse);
    out.on('error', (err) => {
      // 503 makes SDK clients retry, which carries them over an emulator restart.
      sendError(
        res,
        503,
        'ServiceUnavailable',
        `${service} backend at ${this.backends[service]} is unreachable: ${err.message}`,
      );
    });
    return out;
  }

  private proxyStreaming(
    req: IncomingMessage,
    res: ServerResponse,
    service: ProxiedService,
    { cap, name }: { cap: number; name: string } = { cap: MAX_STREAMED_REQUEST_BYTES[service], name: service },
  ): void {
    // Streamed, so the edge holds little of it; the cap still stops a client from pushing unbounded data through.
    if (Number(req.headers['content-length'] ?? 0) > cap) return refuseTooLarge(req, res, name, cap);
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > cap) req.destroy();
    });
    const headers = { ...req.headers };
    delete headers.connection;
    const out = this.backendRequest(
      service,
      { method: req.method ?? 'POST', path: req.url ?? '/', headers },
      (upstream) => {
        const responseHeaders = { ...upstream.headers };
        delete responseHeaders.connection;
        res.writeHead(upstream.statusCode ?? 502, responseHeaders);
        upstream.pipe(res);
      },
      res,
    );
    req.pipe(out);
  }

  /** Sends a buffered JSON-protocol request to fauxqs and hands back its buffered reply. */
  private forwardSqs(
    res: ServerResponse,
    headers: IncomingMessage['headers'],
    payload: Buffer,
    onReply: (status: number, headers: IncomingMessage['headers'], body: Buffer) => void,
  ): void {
    const out = this.backendRequest(
      'sqs',
      {
        method: 'POST',
        path: '/',
        headers: { ...headers, host: new URL(this.backends.sqs).host, 'content-length': String(payload.length) },
      },
      (upstream) => {
        readBody(upstream, Infinity /* our own emulator's response */)
          .then((raw) => onReply(upstream.statusCode ?? 502, upstream.headers, raw))
          .catch((err: unknown) => sendError(res, 502, 'ServiceUnavailable', (err as Error).message));
      },
      res,
    );
    out.end(payload);
  }

  /**
   * SQS bodies are small; they are buffered so queue URLs can be mapped between fauxqs and the edge,
   * and so query-protocol requests (form-encoded Action=...) can be translated to JSON and back.
   */
  private async proxySqs(req: IncomingMessage, res: ServerResponse, region: string): Promise<void> {
    const ctx: SqsUrlContext = {
      edgeHost: req.headers.host ?? new URL(this.endpoint).host,
      backendEndpoint: this.backends.sqs,
      region,
    };
    const body = await readBody(req, MAX_SQS_REQUEST_BYTES).catch((err: unknown) => {
      if (!(err instanceof BodyTooLarge)) throw err;
      refuseTooLarge(req, res, 'sqs', MAX_SQS_REQUEST_BYTES);
      return null;
    });
    if (body === null) return;
    const [path = '/', queryString = ''] = (req.url ?? '/').split('?');
    const isForm = String(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded');
    if (isForm || new URLSearchParams(queryString).has('Action')) {
      const params = new URLSearchParams(queryString);
      if (isForm) for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
      this.proxySqsQuery(req, res, params, path, ctx);
      return;
    }
    const forwarded = rewriteSqsRequest(body.toString('utf8'), ctx);
    const headers = { ...req.headers };
    delete headers.connection;
    delete headers['transfer-encoding'];
    this.forwardSqs(res, headers, forwarded === undefined ? body : Buffer.from(forwarded), (status, upstream, raw) => {
      const rewritten = rewriteSqsResponse(raw.toString('utf8'), ctx);
      const reply = rewritten === undefined ? raw : Buffer.from(rewritten);
      const queryError = upstream['x-amzn-query-error'];
      const responseHeaders: IncomingMessage['headers'] = {
        ...upstream,
        'content-length': String(reply.length),
        ...(typeof queryError === 'string' ? { 'x-amzn-query-error': sqsQueryErrorHeader(queryError) } : {}),
      };
      delete responseHeaders.connection;
      delete responseHeaders['transfer-encoding'];
      res.writeHead(status, responseHeaders);
      res.end(reply);
    });
  }

  private proxySqsQuery(
    req: IncomingMessage,
    res: ServerResponse,
    params: URLSearchParams,
    path: string,
    ctx: SqsUrlContext,
  ): void {
    const requestId = randomUUID();
    const sendXml = (status: number, xml: string) => {
      res.writeHead(status, {
        'content-type': 'text/xml',
        'content-length': Buffer.byteLength(xml),
        'x-amzn-requestid': requestId,
      });
      res.end(xml);
    };
    let translated: ReturnType<typeof queryToJson>;
    try {
      translated = queryToJson(params);
    } catch (err) {
      if (!(err instanceof SqsQueryError)) throw err;
      sendXml(400, jsonErrorToQueryXml({ __type: 'InvalidAction', message: err.message }, undefined, requestId));
      return;
    }
    const { action, input } = translated;
    // Older SDKs address the queue by the request path instead of a QueueUrl parameter.
    if (input.QueueUrl === undefined && /^\/\d+\/[^/]+$/.test(path)) input.QueueUrl = `http://${ctx.edgeHost}${path}`;
    if (typeof input.QueueUrl === 'string') input.QueueUrl = toBackendQueueUrl(input.QueueUrl, ctx);
    const headers: IncomingMessage['headers'] = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    this.forwardSqs(res, headers, Buffer.from(JSON.stringify(input)), (status, upstream, raw) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString('utf8') || '{}');
      } catch {
        sendXml(
          502,
          jsonErrorToQueryXml(
            { __type: 'InternalError', message: 'fauxqs sent a reply that is not JSON' },
            undefined,
            requestId,
          ),
        );
        return;
      }
      if (status >= 300) {
        const queryError = upstream['x-amzn-query-error'];
        sendXml(
          status,
          jsonErrorToQueryXml(parsed, typeof queryError === 'string' ? queryError : undefined, requestId),
        );
        return;
      }
      const rewritten = rewriteSqsResponse(JSON.stringify(parsed), ctx);
      const output = JSON.parse(rewritten ?? JSON.stringify(parsed)) as Record<string, unknown>;
      sendXml(200, jsonToQueryXml(action, output, requestId));
    });
  }
}

/**
 * The largest SQS request the edge buffers. Two limits, as on AWS, with two answers:
 *  - a message over its queue's MaximumMessageSize (at most 1 MiB since SQS raised it from 256 KiB in 2025; a
 *    queue may set less, e.g. 262,144) is refused by the SQS emulator exactly as SQS does: 400
 *    InvalidParameterValue "One or more parameters are invalid. Reason: Message must be shorter than N bytes."
 *    (in a batch: that entry Failed, or BatchRequestTooLong past 1 MiB in total). The edge lets such requests
 *    through so the client sees SQS's own error, which is what code written against SQS handles.
 *  - a request no valid SQS call can produce is refused here with 413 before it is buffered (the 400 MB attack).
 *    A valid call can be up to ~3 MiB on the wire: 1 MiB of messages, ×3 at worst when form-encoded (%XX) for the
 *    query protocol, ×2 for JSON escaping; hence 4 MiB. Real SQS's answer to such a request is not modelled.
 */
export const MAX_SQS_REQUEST_BYTES = 4 * 1024 * 1024;

/**
 * SNS: a Publish or PublishBatch carries at most 256 KiB of messages; form-encoded (%XX, ×3 at worst) that is under
 * 1 MiB, so a larger request is no valid SNS call.
 */
const MAX_SNS_REQUEST_BYTES = 1024 * 1024;

/**
 * Per-request caps for the streamed services, above the services' own limits plus encoding: Kinesis PutRecords is at
 * most 5 MiB of data (base64 in JSON: ×4/3), DynamoDB BatchWriteItem at most 16 MB.
 */
const MAX_STREAMED_REQUEST_BYTES: Record<ProxiedService, number> = {
  sqs: MAX_SQS_REQUEST_BYTES,
  kinesis: 8 * 1024 * 1024,
  dynamodb: 20 * 1024 * 1024,
};

/**
 * 413 with the service's error shape, then the connection is closed: reading the rest of an oversized body
 * just to keep the connection alive is exactly what the limit is there to avoid. Closed the way HTTP servers do a
 * "lingering close": our side first (FIN after the response), then what the client still sends is read and thrown
 * away for a bounded time and amount, then the socket goes. A socket closed with unread data in it answers with a
 * reset, and a reset makes the client's kernel drop the 413 it has not read yet (a loaded CI run saw an empty
 * response).
 */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse, service: string, maxBytes: number): void {
  const message = `${service} request body exceeds the edge's limit of ${maxBytes} bytes`;
  res.setHeader('connection', 'close');
  if (req.headers['x-amz-target'] === undefined && (service === 'sqs' || service === 'sns')) {
    sendXmlError(res, 413, 'RequestEntityTooLarge', message);
  } else {
    sendError(res, 413, 'RequestEntityTooLarge', message);
  }
  res.once('finish', () => lingeringClose(req));
}

/** At most this long, and this many more bytes, read and dropped after a refusal before the socket is destroyed. */
const LINGER_MS = 2_000;
const LINGER_BYTES = 1024 * 1024;

function lingeringClose(req: IncomingMessage): void {
  const socket = req.socket;
  socket.end();
  let dropped = 0;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.on('close', () => clearTimeout(timer));
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) socket.destroy();
  });
  req.resume();
}

/** Appends one line to a log group of the logs emulator, if the group exists (API Gateway logs nowhere otherwise). */
function writeLogLine(logs: LogsEmulator, group: string, stream: string, message: string): void {
  const g = logs.store.getGroup(group);
  if (!g) return;
  if (!g.streams.has(stream)) logs.store.createStream(group, stream);
  logs.store.appendEvents(group, stream, [{ timestamp: Date.now(), message }]);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Errors in the shape JSON-protocol SDKs parse (`__type` + message, x-amzn-errortype). */
/** Errors in the shape query and REST-XML clients parse (the AWS CLI prints Code and Message). */
function sendXmlError(res: ServerResponse, status: number, code: string, message: string): void {
  const xml =
    `<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  if (!res.headersSent) res.setHeader('x-amzn-errortype', type);
  sendJson(res, status, { __type: type, message });
}
