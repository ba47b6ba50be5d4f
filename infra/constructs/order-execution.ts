import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { createPipelineFunction, nameEventSourceMapping } from './pipeline-function';
import type { RaftLedgerClient } from './raft-ledger-client';
import { fifoQueueWithDlq, pipelineTable } from './storage';

export interface OrderExecutionProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
}

/**
 * Order commands applied exactly once: the commands FIFO queue (and its DLQ), the execute function that applies
 * each command on the Raft ledger, the orders table holding its idempotency claims, and the events FIFO queue
 * (and its DLQ) it publishes order events to.
 */
export class OrderExecution extends ResourceGroup {
  readonly commandsQueue: sqs.Queue;
  readonly commandsDlq: sqs.Queue;
  readonly eventsQueue: sqs.Queue;
  readonly eventsDlq: sqs.Queue;
  readonly ordersTable: dynamodb.Table;
  readonly executeFunction: NodejsFunction;

  constructor(scope: Construct, id: string, { config, ledger }: OrderExecutionProps) {
    super(scope, id);
    // AWS advises a source queue's visibility timeout of six times the consuming function's timeout.
    const commandsVisibility = Duration.seconds(config.executeTimeoutSeconds * 6);
    const commands = fifoQueueWithDlq(this, { queue: 'CommandsQueue', dlq: 'CommandsDlq' }, config, commandsVisibility);
    const events = fifoQueueWithDlq(this, { queue: 'EventsQueue', dlq: 'EventsDlq' }, config, Duration.seconds(30));
    this.commandsQueue = commands.queue;
    this.commandsDlq = commands.dlq;
    this.eventsQueue = events.queue;
    this.eventsDlq = events.dlq;
    // Powertools idempotency layout: execute's claims and their results, expired claims removed by TTL.
    this.ordersTable = pipelineTable(this, 'OrdersTable', config, {
      partitionKey: 'id',
      timeToLiveAttribute: 'expiration',
    });

    const execute = createPipelineFunction(this, 'execute', config, {
      description: 'Applies each order command exactly once on the Raft ledger; publishes order events',
      timeout: Duration.seconds(config.executeTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: {
        ORDERS_TABLE_NAME: this.ordersTable.tableName,
        EVENTS_QUEUE_URL: this.eventsQueue.queueUrl,
        ...ledger.environment,
      },
    });
    this.executeFunction = execute;
    // Powertools idempotency (DynamoDBPersistenceLayer): read, conditional put/update, delete of a failed claim.
    this.ordersTable.grant(
      execute,
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    );
    this.eventsQueue.grantSendMessages(execute);
    ledger.grantSecretRead(execute);
    execute.addEventSource(
      new SqsEventSource(this.commandsQueue, { batchSize: config.sqsBatchSize, reportBatchItemFailures: true }),
    );
    nameEventSourceMapping(execute, 'ExecuteCommandsMapping');
  }
}
