import { createDocumentClient, createSqsClient } from '../../shared/aws/clients';
import { createStrategy } from '../../shared/domain/strategy';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createProcessHandler } from './app';
import { loadProcessConfig } from './config';
import { StrategyStateStore } from './state-store';

// Cold start: config validated and clients created once per container.
const config = loadProcessConfig();

export const handler = createProcessHandler({
  config,
  strategy: createStrategy(config.STRATEGY_NAME, {
    fastWindow: config.STRATEGY_FAST_WINDOW,
    slowWindow: config.STRATEGY_SLOW_WINDOW,
    orderQuantity: config.STRATEGY_ORDER_QUANTITY,
  }),
  states: new StrategyStateStore(createDocumentClient(), config.STRATEGY_TABLE_NAME),
  sqs: createSqsClient(),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
