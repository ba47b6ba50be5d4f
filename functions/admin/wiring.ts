import type { SQSClient } from '@aws-sdk/client-sqs';
import { createSecretsManagerClient } from '../../shared/aws/clients';
import { lazyLedgerClient } from '../../shared/aws/ledger';
import { watchedQueueReport } from '../../shared/aws/queues';
import { createLogger } from '../../shared/powertools';
import { createAdminHandler } from './app';
import type { AdminConfig } from './config';

/**
 * The admin handler over its real dependencies: one wiring for the Lambda entry (handler.ts) and the tests. The
 * ledger client can mint `admin` tokens only; SQS is read for queue depths only.
 */
export function wireAdminHandler(config: AdminConfig, clients: { sqs: SQSClient }) {
  return createAdminHandler({
    members: config.RAFT_MEMBERS,
    ledger: lazyLedgerClient(config, createSecretsManagerClient, 'admin'),
    queues: () => watchedQueueReport(clients.sqs, config.WATCHED_QUEUES),
    logger: createLogger(config),
  });
}
