import { createDynamoDbClient, createSecretsManagerClient, createSqsClient } from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { createOrderClaimConfig, createOrderClaimStore } from '../../shared/aws/order-claims';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createExecuteHandler } from './app';
import { loadExecuteConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadExecuteConfig();

export const handler = createExecuteHandler({
  config,
  ledger: lazyLedgerClient(config, createSecretsManagerClient),
  claims: createOrderClaimStore(config.ORDERS_TABLE_NAME, createDynamoDbClient()),
  claimConfig: createOrderClaimConfig,
  sqs: createSqsClient(),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
