import { accountUpdatesForwarder } from '../../../../shared/aws/account-updates';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  SQSBatchResponse,
  SQSEvent,
} from 'aws-lambda';
import { wireAdminHandler } from '../../../../functions/admin/wiring';
import { loadAdminConfig } from '../../../../functions/admin/config';
import { createExecuteHandler } from '../../../../functions/execute/app';
import { loadExecuteConfig } from '../../../../functions/execute/config';
import { createIngestHandler } from '../../../../functions/ingest/app';
import { loadIngestConfig } from '../../../../functions/ingest/config';
import { createMarketDataApiHandler } from '../../../../functions/market-data-api/app';
import { loadMarketDataApiConfig } from '../../../../functions/market-data-api/config';
import { createMarketDataHandler } from '../../../../functions/market-data/app';
import { loadMarketDataConfig, retentionOf } from '../../../../functions/market-data/config';
import { loadOrdersConfig } from '../../../../functions/orders/config';
import { wireOrdersHandler } from '../../../../functions/orders/wiring';
import { createProcessHandler } from '../../../../functions/process/app';
import { loadProcessConfig } from '../../../../functions/process/config';
import { StrategyStateStore } from '../../../../functions/process/state-store';
import {
  createDocumentClient,
  createDynamoDbClient,
  createKinesisClient,
  createSnsClient,
  createSqsClient,
} from '../../../../shared/aws/clients';
import { MarketDataReader, MarketDataStore } from '../../../../shared/aws/market-data-store';
import { OrderRecords } from '../../../../shared/aws/order-records';
import { putRecords } from '../../../../shared/aws/put-records';
import { createStrategy } from '../../../../shared/domain/strategy';
import type { TickRecord } from '../../../../shared/domain/tick';
import type { LedgerClient } from '../../../../shared/raft-client/types';
import { createLogger, createMetrics } from '../../../../shared/powertools';
import { powertoolsEnv } from './env';
import { fakeContext } from '../../../support/lambda-events';
import {
  createFifoQueue,
  createStandardQueue,
  createFifoTopic,
  createRangeTable,
  createStream,
  createTable,
  deleteQueue,
  deleteStream,
  deleteTable,
  deleteTopic,
  subscribeQueue,
  readAllRecords,
  uniqueName,
} from './resources';
import { kinesisEvent } from './kinesis-event';

/** The SDK clients a pipeline test file talks to the emulators with (one set per file, as one warm container). */
export function pipelineClients() {
  const dynamodb = createDynamoDbClient();
  return {
    kinesis: createKinesisClient(),
    dynamodb,
    documents: createDocumentClient(dynamodb),
    sqs: createSqsClient(),
    sns: createSnsClient(),
  };
}
export type PipelineClients = ReturnType<typeof pipelineClients>;

/**
 * The streams, tables and FIFO queues one test (or file) creates, each under a unique name, and deletes again with
 * one call: the create/delete pairing lives here instead of in every test's beforeAll/afterAll.
 */
export class TestResources {
  private readonly cleanups: (() => Promise<void>)[] = [];

  constructor(private readonly clients: Pick<PipelineClients, 'kinesis' | 'dynamodb' | 'sqs'> & { sns?: SNSClient }) {}

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

  /** TicksTable and CandlesTable, keyed as MarketDataStore expects. */
  async marketDataTables(): Promise<{ ticks: string; candles: string }> {
    const ticks = uniqueName('ticks');
    const candles = uniqueName('candles');
    await createRangeTable(this.clients.dynamodb, ticks, 'symbol', { name: 'sk', type: 'S' });
    await createRangeTable(this.clients.dynamodb, candles, 'series', { name: 'start', type: 'N' });
    this.cleanups.push(() => deleteTable(this.clients.dynamodb, ticks));
    this.cleanups.push(() => deleteTable(this.clients.dynamodb, candles));
    return { ticks, candles };
  }

  /** Creates a FIFO queue and returns its URL. */
  async fifoQueue(prefix: string): Promise<string> {
    const url = await createFifoQueue(this.clients.sqs, uniqueName(prefix));
    this.cleanups.push(() => deleteQueue(this.clients.sqs, url));
    return url;
  }

  /** Creates a standard queue (a stream consumer's failure queue) and returns its URL. */
  async standardQueue(prefix: string): Promise<string> {
    const url = await createStandardQueue(this.clients.sqs, uniqueName(prefix));
    this.cleanups.push(() => deleteQueue(this.clients.sqs, url));
    return url;
  }

  /**
   * An SNS FIFO topic with `subscribers` FIFO queues subscribed to it with raw message delivery (as the stack's
   * events topic and its subscriptions are): the topic's ARN and the queues' URLs.
   */
  async fifoTopic(prefix: string, subscribers = 1): Promise<{ topicArn: string; queueUrls: string[] }> {
    const sns = this.clients.sns;
    if (!sns) throw new Error('TestResources was created without an SNS client');
    const topicArn = await createFifoTopic(sns, uniqueName(prefix));
    this.cleanups.push(() => deleteTopic(sns, topicArn));
    const queueUrls = await Promise.all(
      Array.from({ length: subscribers }, (_, i) => this.fifoQueue(`${prefix}-sub${i}`)),
    );
    for (const url of queueUrls) await subscribeQueue(sns, this.clients.sqs, topicArn, url);
    return { topicArn, queueUrls };
  }

  async deleteAll(): Promise<void> {
    await Promise.all(this.cleanups.splice(0).map((cleanup) => cleanup()));
  }
}

/** Puts tick records on the real stream (keyed by symbol) and returns them as the mapping delivers them. */
export async function streamTickRecords(
  kinesis: KinesisClient,
  streamName: string,
  records: TickRecord[],
): Promise<KinesisStreamEvent> {
  const seen = new Set((await readAllRecords(kinesis, streamName)).map((r) => r.record.SequenceNumber));
  const outcomes = await putRecords(
    { kinesis, streamName },
    records.map((r) => ({ partitionKey: r.tick.symbol, data: Buffer.from(JSON.stringify(r)) })),
  );
  if (!outcomes.every((o) => o.landed)) throw new Error('some tick records did not land on the stream');
  const fresh = (await readAllRecords(kinesis, streamName)).filter((r) => !seen.has(r.record.SequenceNumber));
  return kinesisEvent(streamName, fresh);
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

/** The market-data handler wired as its Lambda entry wires it, over the given tables. */
export function marketDataHandler(
  documents: DynamoDBDocumentClient,
  tables: { ticks: string; candles: string },
  env: Record<string, string> = {},
): (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse> {
  const config = loadMarketDataConfig({
    ...powertoolsEnv('market-data'),
    TICKS_TABLE_NAME: tables.ticks,
    CANDLES_TABLE_NAME: tables.candles,
    TICKS_RETENTION_DAYS: '7',
    CANDLES_1M_RETENTION_DAYS: '30',
    CANDLES_5M_RETENTION_DAYS: '90',
    CANDLES_1H_RETENTION_DAYS: '365',
    ...env,
  });
  const handler = createMarketDataHandler({
    store: new MarketDataStore(documents, tables, retentionOf(config)),
    logger: createLogger(config),
    metrics: createMetrics(config),
  });
  return (event) => handler(event, fakeContext('market-data')) as Promise<KinesisStreamBatchResponse>;
}

/** The market-data-api handler wired as its Lambda entry wires it; takes API Gateway events (lambda-events.ts). */
export function marketDataApiHandler(
  documents: DynamoDBDocumentClient,
  tables: { ticks: string; candles: string },
): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> {
  const config = loadMarketDataApiConfig({
    ...powertoolsEnv('market-data-api'),
    TICKS_TABLE_NAME: tables.ticks,
    CANDLES_TABLE_NAME: tables.candles,
  });
  const handler = createMarketDataApiHandler({
    store: new MarketDataReader(documents, tables),
    logger: createLogger(config),
  });
  return (event) => handler(event, fakeContext('market-data-api')) as Promise<APIGatewayProxyStructuredResultV2>;
}

/** The execute handler wired as its Lambda entry wires it, with the ledger the test chooses. */
export function executeHandler(
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient; sns: SNSClient },
  env: Record<string, string>,
  ledger: () => Promise<LedgerClient>,
): (event: SQSEvent, remainingMs?: number) => Promise<SQSBatchResponse> {
  const config = loadExecuteConfig({ ...powertoolsEnv('execute'), ...env });
  const handler = createExecuteHandler({
    config,
    ledger,
    records: new OrderRecords(clients.documents, config.ORDERS_TABLE_NAME, {
      retentionDays: config.ORDER_HISTORY_RETENTION_DAYS,
    }),
    accountUpdates: accountUpdatesForwarder(clients.sqs, config.ACCOUNT_UPDATES_QUEUE_URL),
    sqs: clients.sqs,
    sns: clients.sns,
    logger: createLogger(config),
    metrics: createMetrics(config),
  });
  return (event, remainingMs = 30_000) =>
    handler(event, fakeContext('execute', remainingMs)) as Promise<SQSBatchResponse>;
}

type HttpHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

/** The orders handler wired as its Lambda entry wires it (functions/orders/wiring.ts). */
export function ordersHandler(
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient; sns: SNSClient },
  env: Record<string, string>,
): HttpHandler {
  const handler = wireOrdersHandler(loadOrdersConfig({ ...powertoolsEnv('orders'), ...env }), clients);
  return (event) => handler(event, fakeContext('orders')) as Promise<APIGatewayProxyStructuredResultV2>;
}

/** The admin handler wired as its Lambda entry wires it. */
export function adminHandler(env: Record<string, string>, sqs: SQSClient): HttpHandler {
  const handler = wireAdminHandler(loadAdminConfig({ ...powertoolsEnv('admin'), ...env }), { sqs });
  return (event) => handler(event, fakeContext('admin')) as Promise<APIGatewayProxyStructuredResultV2>;
}
