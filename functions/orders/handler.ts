import { createDocumentClient, createSnsClient, createSqsClient } from '../../shared/aws/clients';
import { loadOrdersConfig } from './config';
import { wireOrdersHandler } from './wiring';

// Cold start: config validated and clients created once per container.
export const handler = wireOrdersHandler(loadOrdersConfig(), {
  documents: createDocumentClient(),
  sqs: createSqsClient(),
  sns: createSnsClient(),
});
