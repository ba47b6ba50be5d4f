import { ClientOrders } from '../../shared/aws/client-orders';
import { createDocumentClient, createSecretsManagerClient } from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
import { createLogger } from '../../shared/powertools';
import { createApiHandler } from './app';
import { loadApiConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadApiConfig();
const documents = createDocumentClient();

export const handler = createApiHandler({
  members: config.RAFT_MEMBERS,
  ledger: lazyLedgerClient(config, createSecretsManagerClient, 'read'),
  records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
  entries: new ClientOrders(documents, config.ORDERS_TABLE_NAME),
  bySymbolIndex: config.ORDER_HISTORY_BY_SYMBOL,
  logger: createLogger(config),
});
