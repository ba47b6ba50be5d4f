import { createDocumentClient, createSecretsManagerClient } from '../../shared/aws/clients';
import { createConnectionPoster, managementEndpoint } from '../../shared/aws/connection-poster';
import { DeliveryLog } from '../../shared/aws/delivery-log';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
import { ConnectionStore } from '../../shared/aws/ws-connections';
import { createLogger } from '../../shared/powertools';
import { createWsConnectionHandler } from './app';
import { loadWsConnectionConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadWsConnectionConfig();
const logger = createLogger(config);
const documents = createDocumentClient();
const ledger = lazyLedgerClient(config, createSecretsManagerClient, 'read');

export const handler = createWsConnectionHandler({
  connections: new ConnectionStore(documents, {
    connections: config.CONNECTIONS_TABLE_NAME,
    subscriptions: config.SUBSCRIPTIONS_TABLE_NAME,
  }),
  log: new DeliveryLog(documents, config.DELIVERY_LOG_TABLE_NAME, config.DELIVERY_LOG_RETENTION_S),
  poster: createConnectionPoster(
    managementEndpoint(config.WS_CALLBACK_URL, config.AWS_ENDPOINT_URL),
    (connectionId, error) => logger.warn('post to connection failed', { connectionId, error }),
  ),
  getOrder: async (orderId) => (await ledger()).getOrder(orderId),
  records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
  logger,
});
