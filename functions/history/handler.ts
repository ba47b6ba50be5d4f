import { createDocumentClient } from '../../shared/aws/clients';
import { OrderHistoryStore } from '../../shared/aws/order-history';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createHistoryHandler } from './app';
import { loadHistoryConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadHistoryConfig();

export const handler = createHistoryHandler({
  retentionDays: config.ORDER_HISTORY_RETENTION_DAYS,
  store: new OrderHistoryStore(createDocumentClient(), config.ORDER_HISTORY_TABLE_NAME),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
