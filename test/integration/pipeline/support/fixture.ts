import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createAdminHandler } from '../../../../functions/admin/app';
import { loadAdminConfig } from '../../../../functions/admin/config';
import { createExecuteHandler } from '../../../../functions/execute/app';
import { loadExecuteConfig } from '../../../../functions/execute/config';
import { createIngestHandler } from '../../../../functions/ingest/app';
import { loadIngestConfig } from '../../../../functions/ingest/config';
import { loadOrdersConfig } from '../../../../functions/orders/config';
import { wireOrdersHandler } from '../../../../functions/orders/wiring';
import { createProcessHandler } from '../../../../functions/process/app';
import { loadProcessConfig } from '../../../../functions/process/config';
import { StrategyStateStore } from '../../../../functions/process/state-store';
import {
  createDocumentClient,
  createDynamoDbClient,
  createKinesisClient,
  createSecretsManagerClient,
  createSqsClient,
} from '../../../../shared/aws/clients';
import { OrderRecords } from '../../../../shared/aws/order-records';
import { createStrategy } from '../../../../shared/domain/strategy';
import { lazyLedgerClient } from '../../../../shared/aws/ledger';
import type { LedgerClient } from '../../../../shared/raft-client/types';
import { createLogger, createMetrics } from '../../../../shared/powertools';
import { powertoolsEnv } from './env';
import { fakeContext } from '../../../support/lambda-events';
import {
  createFifoQueue,
  createStream,
  createTable,
  deleteQueue,
  deleteStream,
  deleteTable,
  uniqueName,
} from './resources';

/** The SDK clients a pipeline test file talks to the emulators with (one set per file, as one warm container). */
export function pipelineClients() {
  const dynamodb = createDynamoDbClient();
  return {
    kinesis: createKinesisClient(),
    dynamodb,
    documents: createDocumentClient(dynamodb),
    sqs: createSqsClient(),
  };
}
export type PipelineClients = ReturnType<typeof pipelineClients>;

/**
 * The streams, tables and FIFO queues one test (or file) creates, each under a unique name, and deletes again with
 * one call: the create/delete pairing lives here instead of in every test's beforeAll/afterAll.
 */
export class TestResources {
  private readonly cleanups: (() => Promise<void>)[] = [];

  constructor(private readonly clients: Pick<PipelineClients, 'kinesis' | 'dynamodb' | 'sqs'>) {}

  async stream(prefix: string, shards = 1): Promise<string> {
    const name = uniqueName(prefix);
    await createStream(this.clients.kinesis, name, shards);
    this.cleanups.push(() => deleteStream(this.clients.kinesis, name));
    return name;
  }

  async table(prefix: string, key: 'id' | 'symbol'): Promise<string> {
    const name = uniqueName(prefix);
    await createTable(this.clients.dynamodb, name, key);
    this.cleanups.push(() => deleteTable(this.clients.dynamodb, name));
    return name;
  }

  /** Creates a FIFO queue and returns its URL. */
  async fifoQueue(prefix: string): Promise<string> {
    const url = await createFifoQueue(this.clients.sqs, uniqueName(prefix));
    this.cleanups.push(() => deleteQueue(this.clients.sqs, url));
    return url;
  }

  async deleteAll(): Promise<void> {
    await Promise.all(this.cleanups.splice(0).map((cleanup) => cleanup()));
  }
}

/** The ingest handler wired as its Lambda entry wires it; `env` adds to (or overrides) the Powertools variables. */
export function ingestHandler(kinesis: KinesisClient, env: Record<string, string>, sleep?: () => Promise<void>) {
  const config = loadIngestConfig({ ...powertoolsEnv('ingest'), ...env });
  return createIngestHandler({
    config,
    kinesis,
    logger: createLogger(config),
    metrics: createMetrics(config),
    ...(sleep ? { sleep } : {}),
  });
}

/** The process handler wired as its Lambda entry wires it (strategy from the config), invoked with a fresh context. */
export function processHandler(
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient },
  env: Record<string, string>,
): (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse> {
  const config = loadProcessConfig({ ...powertoolsEnv('process'), ...env });
  const handler = createProcessHandler({
    config,
    strategy: createStrategy(config.STRATEGY_NAME, {
      fastWindow: config.STRATEGY_FAST_WINDOW,
      slowWindow: config.STRATEGY_SLOW_WINDOW,
      orderQuantity: config.STRATEGY_ORDER_QUANTITY,
    }),
    states: new StrategyStateStore(clients.documents, config.STRATEGY_TABLE_NAME),
    sqs: clients.sqs,
    logger: createLogger(config),
    metrics: createMetrics(config),
  });
  return (event) => handler(event, fakeContext('process')) as Promise<KinesisStreamBatchResponse>;
}

/** The execute handler wired as its Lambda entry wires it, with the ledger the test chooses. */
export function executeHandler(
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient },
  env: Record<string, string>,
  ledger: () => Promise<LedgerClient>,
): (event: SQSEvent, remainingMs?: number) => Promise<SQSBatchResponse> {
  const config = loadExecuteConfig({ ...powertoolsEnv('execute'), ...env });
  const handler = createExecuteHandler({
    config,
    ledger,
    records: new OrderRecords(clients.documents, config.ORDERS_TABLE_NAME),
    sqs: clients.sqs,
    logger: createLogger(config),
    metrics: createMetrics(config),
  });
  return (event, remainingMs = 30_000) =>
    handler(event, fakeContext('execute', remainingMs)) as Promise<SQSBatchResponse>;
}

type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/** The orders handler wired as its Lambda entry wires it (functions/orders/wiring.ts). */
export function ordersHandler(
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient },
  env: Record<string, string>,
): HttpHandler {
  const handler = wireOrdersHandler(loadOrdersConfig({ ...powertoolsEnv('orders'), ...env }), clients);
  return (event) => handler(event, fakeContext('orders')) as Promise<APIGatewayProxyStructuredResultV2>;
}

/** The admin handler wired as its Lambda entry wires it. */
export function adminHandler(env: Record<string, string>): HttpHandler {
  const config = loadAdminConfig({ ...powertoolsEnv('admin'), ...env });
  // As handler.ts: a client that can mint admin tokens only.
  const ledger = lazyLedgerClient(config, createSecretsManagerClient, 'admin');
  const handler = createAdminHandler({ members: config.RAFT_MEMBERS, ledger, logger: createLogger(config) });
  return (event) => handler(event, fakeContext('admin')) as Promise<APIGatewayProxyStructuredResultV2>;
}
