import { createKinesisClient } from '../../shared/aws/clients';
import { createLogger, createMetrics } from '../../shared/powertools';
import { createIngestHandler } from './app';
import { loadIngestConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadIngestConfig();

export const handler = createIngestHandler({
  config,
  kinesis: createKinesisClient(),
  logger: createLogger(config),
  metrics: createMetrics(config),
});
