import { createSqsClient } from '../../shared/aws/clients';
import { loadAdminConfig } from './config';
import { wireAdminHandler } from './wiring';

// Cold start: config validated and clients created once per container.
export const handler = wireAdminHandler(loadAdminConfig(), { sqs: createSqsClient() });
