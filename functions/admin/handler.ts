import { createSecretsManagerClient } from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { createLogger } from '../../shared/powertools';
import { createAdminHandler } from './app';
import { loadAdminConfig } from './config';

// Cold start: config validated and clients created once per container.
const config = loadAdminConfig();

export const handler = createAdminHandler({
  members: config.RAFT_MEMBERS,
  ledger: lazyLedgerClient(config, createSecretsManagerClient, 'admin'),
  logger: createLogger(config),
});
