import { createDocumentClient, createSecretsManagerClient } from '../../shared/aws/clients';
import { liveDeliveryAdapters } from '../../shared/aws/live-delivery-adapters';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
import { createLogger } from '../../shared/powertools';
import { createWsConnectionHandler } from './app';
import { loadWsConnectionConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadWsConnectionConfig();
const logger = createLogger(config);
const documents = createDocumentClient();
const ledger = lazyLedgerClient(config, createSecretsManagerClient, 'read');

export const handler = createWsConnectionHandler({
  ...liveDeliveryAdapters(config, documents, logger),
  getOrder: async (orderId) => (await ledger()).getOrder(orderId),
  records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
  logger,
});
