import {
  createDocumentClient,
  createSecretsManagerClient,
  createSnsClient,
  createSqsClient,
} from '../../shared/aws/clients';
import { liveDeliveryAdapters } from '../../shared/aws/live-delivery-adapters';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { wireOrderEntry } from '../../shared/aws/order-entry';
import { OrderRecords } from '../../shared/aws/order-records';
import { createLogger } from '../../shared/powertools';
import { createWsConnectionHandler } from './app';
import { loadWsConnectionConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadWsConnectionConfig();
const logger = createLogger(config);
const documents = createDocumentClient();
// orders:write, as the orders function: order.cancel needs it, and it reads too (order.status).
const ledger = lazyLedgerClient(config, createSecretsManagerClient, 'orders:write');

export const handler = createWsConnectionHandler({
  ...liveDeliveryAdapters(config, documents, logger),
  getOrder: async (orderId) => (await ledger()).getOrder(orderId),
  records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
  entry: wireOrderEntry(config, { documents, sqs: createSqsClient(), sns: createSnsClient() }, ledger, logger),
  logger,
});
