import { createDynamoDbClient, createSecretsManagerClient } from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { createOrderClaimStore } from '../../shared/aws/order-claims';
import { createLogger } from '../../shared/powertools';
import { createApiHandler } from './app';
import { loadApiConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadApiConfig();

export const handler = createApiHandler({
  members: config.RAFT_MEMBERS,
  ledger: lazyLedgerClient(config, createSecretsManagerClient),
  claims: createOrderClaimStore(config.ORDERS_TABLE_NAME, createDynamoDbClient()),
  logger: createLogger(config),
});
