import { accountUpdatesForwarder } from '../../shared/aws/account-updates';
import { createDocumentClient, createSqsClient } from '../../shared/aws/clients';
import { liveDeliveryAdapters } from '../../shared/aws/live-delivery-adapters';
import { CandleLookup } from '../../shared/aws/market-data-store';
import { createLogger } from '../../shared/powertools';
import { createWsNotifierHandler } from './app';
import { loadWsNotifierConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadWsNotifierConfig();
const logger = createLogger(config);
const documents = createDocumentClient();

export const handler = createWsNotifierHandler({
  ...liveDeliveryAdapters(config, documents, logger),
  candles: new CandleLookup(documents, config.CANDLES_TABLE_NAME),
  accountUpdates: {
    queueArn: config.ACCOUNT_UPDATES_QUEUE_ARN,
    forward: accountUpdatesForwarder(createSqsClient(), config.ACCOUNT_UPDATES_QUEUE_URL),
  },
  concurrency: config.WS_POST_CONCURRENCY,
  marketSubscribersTtlMs: config.WS_MARKET_SUBSCRIBERS_TTL_MS,
  logger,
});
