import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { OrderUpdate } from '../domain/live-delivery';
import { createConnectionPoster, managementEndpoint } from './connection-poster';
import { DeliveryLog } from './delivery-log';
import { ConnectionStore } from './ws-connections';

/** Where the live-delivery state lives (functions/ws-connection/config.ts `liveDeliveryEnv`). */
export interface LiveDeliveryLocation {
  CONNECTIONS_TABLE_NAME: string;
  SUBSCRIPTIONS_TABLE_NAME: string;
  DELIVERY_LOG_TABLE_NAME: string;
  DELIVERY_LOG_RETENTION_S: number;
  WS_CALLBACK_URL: string;
  AWS_ENDPOINT_URL?: string | undefined;
}

/** The connection store, delivery log and @connections poster both WebSocket functions work with. */
export function liveDeliveryAdapters(config: LiveDeliveryLocation, documents: DynamoDBDocumentClient, logger: Logger) {
  return {
    connections: new ConnectionStore(documents, {
      connections: config.CONNECTIONS_TABLE_NAME,
      subscriptions: config.SUBSCRIPTIONS_TABLE_NAME,
    }),
    log: new DeliveryLog<OrderUpdate>(documents, config.DELIVERY_LOG_TABLE_NAME, config.DELIVERY_LOG_RETENTION_S),
    poster: createConnectionPoster(
      managementEndpoint(config.WS_CALLBACK_URL, config.AWS_ENDPOINT_URL),
      (connectionId, error) => logger.warn('post to connection failed', { connectionId, error }),
    ),
  };
}
