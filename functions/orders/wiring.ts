import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createSecretsManagerClient } from '../../shared/aws/clients';
import { AccountRateLimiter, ClientOrders, LastPrices } from '../../shared/aws/client-orders';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { OrderRecords } from '../../shared/aws/order-records';
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
  const { documents, sqs, sns } = clients;
  return createOrdersHandler({
    config,
    ledger: lazyLedgerClient(config, createSecretsManagerClient, 'orders:write'),
    clientOrders: new ClientOrders(documents, config.ORDERS_TABLE_NAME),
    records: new OrderRecords(documents, config.ORDERS_TABLE_NAME),
    limiter: new AccountRateLimiter(documents, config.ORDERS_TABLE_NAME, config.ORDER_RATE_LIMIT_PER_SECOND),
    prices: new LastPrices(documents, config.STRATEGY_TABLE_NAME),
    sqs,
    sns,
    logger: createLogger(config),
  });
}
