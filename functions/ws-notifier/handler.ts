import { createDocumentClient } from '../../shared/aws/clients';
import { createConnectionPoster, managementEndpoint } from '../../shared/aws/connection-poster';
import { DeliveryLog } from '../../shared/aws/delivery-log';
import { ConnectionStore } from '../../shared/aws/ws-connections';
import { createLogger } from '../../shared/powertools';
import { createWsNotifierHandler } from './app';
import { loadWsNotifierConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadWsNotifierConfig();
const logger = createLogger(config);
const documents = createDocumentClient();

export const handler = createWsNotifierHandler({
  connections: new ConnectionStore(documents, {
    connections: config.CONNECTIONS_TABLE_NAME,
    subscriptions: config.SUBSCRIPTIONS_TABLE_NAME,
  }),
  log: new DeliveryLog(documents, config.DELIVERY_LOG_TABLE_NAME, config.DELIVERY_LOG_RETENTION_S),
  poster: createConnectionPoster(
    managementEndpoint(config.WS_CALLBACK_URL, config.AWS_ENDPOINT_URL),
    (connectionId, error) => logger.warn('post to connection failed', { connectionId, error }),
  ),
  concurrency: config.WS_POST_CONCURRENCY,
  logger,
});
