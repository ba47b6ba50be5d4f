import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  HISTORY_BY_ACCOUNT_INDEX,
  HISTORY_BY_SYMBOL_INDEX,
  HISTORY_INDEX_PARTITION,
  type HistoryIndex,
} from '../../shared/domain/order-history';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { OrderEvents } from './order-events';
import { createPipelineFunction, nameEventSourceMapping } from './pipeline-function';
import type { RaftLedgerClient } from './raft-ledger-client';
import { fifoQueueWithDlq, grantItems, pipelineTable } from './storage';

export interface OrderExecutionProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
}

/**
 * Order commands applied exactly once: the commands FIFO queue (and its DLQ), the execute function that applies
 * each command on the Raft ledger, the orders table holding its execution records — the order history too, through
 * two sparse indexes (shared/domain/order-history.ts) — the order events topic it publishes to, and the events FIFO
 * queue (and its DLQ): the topic's subscription verify and the status recorder read.
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
  /** The history indexes this deploy has (both unless `orderHistoryIndexes` stages an upgrade). */
  private readonly historyIndexes: HistoryIndex[];

  constructor(scope: Construct, id: string, { config, ledger }: OrderExecutionProps) {
    super(scope, id);
    this.historyIndexes =
      config.orderHistoryIndexes === 'all'
        ? [HISTORY_BY_ACCOUNT_INDEX, HISTORY_BY_SYMBOL_INDEX]
        : [HISTORY_BY_ACCOUNT_INDEX];
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
    // Execute's order records (shared/aws/order-records.ts), removed by TTL after orderHistoryRetentionDays
    // (at least 14): GET /orders reads them by account, or by account and symbol, newest first.
    this.ordersTable = pipelineTable(this, 'OrdersTable', config, {
      partitionKey: 'id',
      timeToLiveAttribute: 'expiration',
    });
    for (const indexName of this.historyIndexes) {
      this.ordersTable.addGlobalSecondaryIndex({
        indexName,
        partitionKey: { name: HISTORY_INDEX_PARTITION[indexName], type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      });
    }

    const execute = createPipelineFunction(this, 'execute', config, {
      description: 'Applies each order command exactly once on the Raft ledger; publishes order events',
      timeout: Duration.seconds(config.executeTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: {
        ORDERS_TABLE_NAME: this.ordersTable.tableName,
        EVENTS_TOPIC_ARN: this.events.topic.topicArn,
        COMMANDS_DLQ_URL: this.commandsDlq.queueUrl,
        ORDER_HISTORY_RETENTION_DAYS: String(config.orderHistoryRetentionDays),
        ...ledger.environment('orders:write'),
      },
    });
    this.executeFunction = execute;
    // Order records: conditional puts in one TransactWriteItems (authorized per item as PutItem), and the
    // consistent BatchGetItem of records written before, on a redelivery.
    grantItems(this.ordersTable, execute, 'dynamodb:PutItem', 'dynamodb:BatchGetItem');
    this.events.grantPublish(execute);
    // Poison commands go to the DLQ at once, with their reason.
    this.commandsDlq.grantSendMessages(execute);
    ledger.grantKeyRead(execute, 'orders:write');
    execute.addEventSource(
      new SqsEventSource(this.commandsQueue, { batchSize: config.sqsBatchSize, reportBatchItemFailures: true }),
    );
    nameEventSourceMapping(execute, 'ExecuteCommandsMapping');
  }

  /**
   * Lets `fn` query the order history: the indexes by name (no index/* wildcard; the table itself not at all), and
   * tells it whether BySymbol is there yet.
   */
  grantHistoryQuery(fn: lambda.Function): void {
    const indexes = this.historyIndexes.map((name) => `${this.ordersTable.tableArn}/index/${name}`);
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: indexes }));
    fn.addEnvironment('ORDER_HISTORY_BY_SYMBOL', String(this.historyIndexes.includes(HISTORY_BY_SYMBOL_INDEX)));
  }
}
