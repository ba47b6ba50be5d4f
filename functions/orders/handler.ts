import { createDocumentClient, createSecretsManagerClient, createSqsClient } from '../../shared/aws/clients';
import { AccountRateLimiter, ClientOrders, LastPrices } from '../../shared/aws/client-orders';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
import { createLogger } from '../../shared/powertools';
import { createOrdersHandler } from './app';
import { loadOrdersConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadOrdersConfig();
const documents = createDocumentClient();

export const handler = createOrdersHandler({
  config,
  ledger: lazyLedgerClient(config, createSecretsManagerClient, 'orders:write'),
  clientOrders: new ClientOrders(documents, config.ORDERS_TABLE_NAME),
  records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
  limiter: new AccountRateLimiter(documents, config.ORDERS_TABLE_NAME, config.ORDER_RATE_LIMIT_PER_SECOND),
  prices: new LastPrices(documents, config.STRATEGY_TABLE_NAME),
  sqs: createSqsClient(),
  logger: createLogger(config),
});
