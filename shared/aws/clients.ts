import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/*
 * The one home of SDK v3 client construction, for the functions, the local cloud, the tools and the tests.
 * Endpoints are normally not configured here: the SDK reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>
 * itself, so the same code talks to AWS, LocalStack or the embedded emulators. A caller that must talk to one
 * endpoint explicitly (a test of the edge, the logs CLI's --endpoint) passes a ClientTarget. Handlers create
 * their clients once per container (at module load) and reuse them across invocations.
 */

/** Where a client points when the environment is not to decide: all optional, the SDK's chain fills the rest. */
export interface ClientTarget {
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  maxAttempts?: number;
}

/** What every emulator (kinesalite, DynamoDB Local, fauxqs, the logs emulator, LocalStack) accepts. */
export const EMULATOR_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/**
 * The environment that points this process's SDK clients (and a child's) at one local endpoint: the edge of
 * the embedded cloud. Region and credentials already set are kept; emulator credentials otherwise.
 */
export function localEndpointEnv(endpoint: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: env.AWS_REGION ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? EMULATOR_CREDENTIALS.secretAccessKey,
    // Node 20 is the toolchain here (Lambda runs 22): the SDK's reminder about it is noise on a status screen.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** What quiet() needs of a client: its middleware stack. */
interface WithMiddlewareStack {
  middlewareStack: { remove(toRemove: string): boolean };
}

/**
 * The client without the SDK's logger middleware. No client here is given a logger, and with the default no-op one
 * the middleware still runs every call's input and output through the sensitive-field filter to build a log line
 * nobody writes: 2.5 % of execute's CPU in a profile of its workers (docs/performance.md, session 32), and every
 * other function pays the same per call. Errors still reach the caller as before; only that unread line goes.
 */
function quiet<C extends WithMiddlewareStack>(client: C): C {
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

/** Kinesis over HTTP/1.1: the SDK's HTTP/2 default is not spoken by the emulators (kinesalite); AWS accepts both. */
export function createKinesisClient(target: ClientTarget = {}): KinesisClient {
  return quiet(new KinesisClient({ ...target, requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000 }) }));
}

export function createDynamoDbClient(target: ClientTarget = {}): DynamoDBClient {
  return quiet(new DynamoDBClient({ ...target }));
}

export function createDocumentClient(client: DynamoDBClient = createDynamoDbClient()): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * Requests go to the configured endpoint, not to the host inside each queue URL: the queue URL is then only an
 * identifier, which keeps emulator URLs (hosts like sqs.us-east-1.127.0.0.1) and real ones working alike.
 */
export function createSqsClient(target: ClientTarget = {}): SQSClient {
  return quiet(new SQSClient({ ...target, useQueueUrlAsEndpoint: false }));
}

export function createSnsClient(target: ClientTarget = {}): SNSClient {
  return quiet(new SNSClient({ ...target }));
}

export function createCloudWatchLogsClient(target: ClientTarget = {}): CloudWatchLogsClient {
  return quiet(new CloudWatchLogsClient({ ...target }));
}

export function createSecretsManagerClient(): SecretsManagerClient {
  return quiet(new SecretsManagerClient({}));
}
