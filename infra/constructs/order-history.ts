import { Duration } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { HISTORY_INDEX, HISTORY_WRITTEN_ATTRIBUTE } from '../../shared/domain/order-history';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { OTHER_PUBLISHERS_MAX_CONCURRENCY, type OrderEvents } from './order-events';
import { createPipelineFunction, nameEventSourceMapping } from './pipeline-function';
import { fifoQueueWithDlq, pipelineTable } from './storage';

export interface OrderHistoryProps {
  config: InfraConfig;
  events: OrderEvents;
}

/**
 * The order history: OrderHistoryTable (key design in shared/domain/order-history.ts), kept for
 * orderHistoryRetentionDays by TTL; execute writes its orders' items itself (`grantWrite`), and the history writer
 * function the events of other publishers (the orders function's CANCELED), from its own FIFO subscription to the
 * events topic (HistoryQueue, with HistoryDlq) that leaves out the events execute marks as written. GET /orders reads
 * it through `grantQuery`.
 */
export class OrderHistory extends ResourceGroup {
  readonly table: dynamodb.Table;
  readonly queue: sqs.Queue;
  readonly dlq: sqs.Queue;
  readonly historyFunction: NodejsFunction;
  private readonly retentionDays: number;

  constructor(scope: Construct, id: string, { config, events }: OrderHistoryProps) {
    super(scope, id);
    this.retentionDays = config.orderHistoryRetentionDays;
    const visibility = Duration.seconds(config.historyTimeoutSeconds * 6);
    ({ queue: this.queue, dlq: this.dlq } = fifoQueueWithDlq(
      this,
      { queue: 'HistoryQueue', dlq: 'HistoryDlq' },
      config,
      visibility,
    ));
    events.subscribeQueue(this.queue, { [HISTORY_WRITTEN_ATTRIBUTE]: sns.SubscriptionFilter.notExistsFilter() });
    this.table = pipelineTable(this, 'OrderHistoryTable', config, {
      partitionKey: 'account',
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'expiration',
    });
    // GET /orders?symbol=: one symbol of an account, by time, without filtering the account's other orders.
    this.table.addGlobalSecondaryIndex({
      indexName: HISTORY_INDEX,
      partitionKey: { name: 'accountSymbol', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    });

    const fn = createPipelineFunction(this, 'history', config, {
      description: 'Writes each order event to the order history (monotonic, idempotent conditional puts)',
      timeout: Duration.seconds(config.historyTimeoutSeconds),
      environment: {
        ORDER_HISTORY_TABLE_NAME: this.table.tableName,
        ORDER_HISTORY_RETENTION_DAYS: String(this.retentionDays),
      },
    });
    this.historyFunction = fn;
    this.allowPut(fn);
    fn.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: config.sqsBatchSize,
        reportBatchItemFailures: true,
        maxConcurrency: OTHER_PUBLISHERS_MAX_CONCURRENCY,
      }),
    );
    nameEventSourceMapping(fn, 'HistoryEventsMapping');
  }

  /** Lets `fn` write order items (execute: each of its orders' item, before the event is published). */
  grantWrite(fn: lambda.Function): void {
    this.allowPut(fn);
    fn.addEnvironment('ORDER_HISTORY_TABLE_NAME', this.table.tableName);
    fn.addEnvironment('ORDER_HISTORY_RETENTION_DAYS', String(this.retentionDays));
  }

  /** The table only (table.grant would add index/*, which a writer never touches); TransactWriteItems is authorized per item as PutItem. */
  private allowPut(fn: lambda.Function): void {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [this.table.tableArn] }));
  }

  /** Lets `fn` query the history (table and index) and tells it the table's name. */
  grantQuery(fn: lambda.Function): void {
    // The table and its one index by name, no index/* wildcard.
    const index = `${this.table.tableArn}/index/${HISTORY_INDEX}`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [this.table.tableArn, index] }),
    );
    fn.addEnvironment('ORDER_HISTORY_TABLE_NAME', this.table.tableName);
  }
}
