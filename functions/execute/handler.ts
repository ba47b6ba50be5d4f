import {
  createDocumentClient,
  createSecretsManagerClient,
  createSnsClient,
  createSqsClient,
} from '../../shared/aws/clients';
import { accountUpdatesForwarder } from '../../shared/aws/account-updates';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createExecuteHandler } from './app';
import { loadExecuteConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadExecuteConfig();
const documents = createDocumentClient();
const sqs = createSqsClient();

export const handler = createExecuteHandler({
  config,
  ledger: lazyLedgerClient(config, createSecretsManagerClient, 'orders:write'),
  records: new OrderRecords(documents, config.ORDERS_TABLE_NAME, {
    retentionDays: config.ORDER_HISTORY_RETENTION_DAYS,
  }),
  accountUpdates: accountUpdatesForwarder(sqs, config.ACCOUNT_UPDATES_QUEUE_URL),
  sqs,
  sns: createSnsClient(),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
