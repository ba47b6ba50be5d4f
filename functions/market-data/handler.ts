import { createDocumentClient } from '../../shared/aws/clients';
import { MarketDataStore } from '../../shared/aws/market-data-store';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createMarketDataHandler } from './app';
import { loadMarketDataConfig, retentionOf } from './config';

// Cold start: config validated and clients created once per container.
const config = loadMarketDataConfig();

export const handler = createMarketDataHandler({
  store: new MarketDataStore(
    createDocumentClient(),
    { ticks: config.TICKS_TABLE_NAME, candles: config.CANDLES_TABLE_NAME },
    retentionOf(config),
  ),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
