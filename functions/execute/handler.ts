import {
  createDocumentClient,
  createSecretsManagerClient,
  createSnsClient,
  createSqsClient,
} from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createExecuteHandler } from './app';
import { loadExecuteConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadExecuteConfig();

export const handler = createExecuteHandler({
  config,
  ledger: lazyLedgerClient(config, createSecretsManagerClient, 'orders:write'),
  records: new OrderRecords(createDocumentClient(), config.ORDERS_TABLE_NAME),
  sqs: createSqsClient(),
  sns: createSnsClient(),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
