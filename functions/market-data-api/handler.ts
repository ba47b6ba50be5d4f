import { createDocumentClient } from '../../shared/aws/clients';
import { MarketDataReader } from '../../shared/aws/market-data-store';
import { createLogger } from '../../shared/powertools';
import { createMarketDataApiHandler } from './app';
import { loadMarketDataApiConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadMarketDataApiConfig();

export const handler = createMarketDataApiHandler({
  store: new MarketDataReader(createDocumentClient(), {
    ticks: config.TICKS_TABLE_NAME,
    candles: config.CANDLES_TABLE_NAME,
  }),
  logger: createLogger(config),
});
