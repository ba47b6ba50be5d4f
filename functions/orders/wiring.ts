import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createSecretsManagerClient } from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { wireOrderEntry } from '../../shared/aws/order-entry';
import { createLogger } from '../../shared/powertools';
import { createOrdersHandler } from './app';
import type { OrdersConfig } from './config';

/**
 * The orders handler over its real dependencies, given the config and the AWS clients: one wiring for the Lambda
 * entry (handler.ts) and the tests. The ledger client can mint orders:write tokens only.
 */
export function wireOrdersHandler(
  config: OrdersConfig,
  clients: { documents: DynamoDBDocumentClient; sqs: SQSClient; sns: SNSClient },
) {
  const logger = createLogger(config);
  const ledger = lazyLedgerClient(config, createSecretsManagerClient, 'orders:write');
  return createOrdersHandler({ entry: wireOrderEntry(config, clients, ledger, logger), logger });
}
