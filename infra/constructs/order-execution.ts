import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { OrderEvents } from './order-events';
import { createPipelineFunction, nameEventSourceMapping } from './pipeline-function';
import type { RaftLedgerClient } from './raft-ledger-client';
import { fifoQueueWithDlq, pipelineTable } from './storage';

export interface OrderExecutionProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
}

/**
 * Order commands applied exactly once: the commands FIFO queue (and its DLQ), the execute function that applies
 * each command on the Raft ledger, the orders table holding its idempotency claims, the order events topic it
 * publishes to, and the events FIFO queue (and its DLQ): the topic's subscription verify and the status recorder read.
 */
export class OrderExecution extends ResourceGroup {
  readonly commandsQueue: sqs.Queue;
  readonly commandsDlq: sqs.Queue;
  readonly eventsQueue: sqs.Queue;
  readonly eventsDlq: sqs.Queue;
  /** The order events topic; consumers subscribe with `events.subscribeQueue(queue)`. */
  readonly events: OrderEvents;
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
    this.events = new OrderEvents(this, 'OrderEvents', config);
    this.events.subscribeQueue(this.eventsQueue);
    // Execute's order records (shared/aws/order-records.ts), removed by TTL after 14 days.
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
        EVENTS_TOPIC_ARN: this.events.topic.topicArn,
        COMMANDS_DLQ_URL: this.commandsDlq.queueUrl,
        ...ledger.environment('orders:write'),
      },
    });
    this.executeFunction = execute;
    // Order records: conditional puts in one TransactWriteItems (authorized per item as PutItem), and the
    // consistent BatchGetItem of records written before, on a redelivery.
    this.ordersTable.grant(execute, 'dynamodb:PutItem', 'dynamodb:BatchGetItem');
    this.events.grantPublish(execute);
    // Poison commands go to the DLQ at once, with their reason.
    this.commandsDlq.grantSendMessages(execute);
    ledger.grantKeyRead(execute, 'orders:write');
    execute.addEventSource(
      new SqsEventSource(this.commandsQueue, { batchSize: config.sqsBatchSize, reportBatchItemFailures: true }),
    );
    nameEventSourceMapping(execute, 'ExecuteCommandsMapping');
  }
}
