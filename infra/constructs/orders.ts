import { Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { createPipelineFunction } from './pipeline-function';
import type { OrderEvents } from './order-events';
import type { RaftLedgerClient } from './raft-ledger-client';
import { grantItems } from './storage';
import type { TradingApi } from './trading-api';

/** What order entry (shared/aws/order-entry.ts) reaches, wherever it runs. */
export interface OrderEntryResources {
  config: InfraConfig;
  ledger: RaftLedgerClient;
  /** Entry records, rate-limit counters and (for a canceled order) the execution record: shared with execute. */
  ordersTable: dynamodb.ITable;
  /** Where process records each symbol's last price. */
  strategyTable: dynamodb.ITable;
  commandsQueue: sqs.IQueue;
  /** Where a canceled order's CANCELED event is published (execute's topic). */
  events: OrderEvents;
}

export interface OrderEntryProps extends OrderEntryResources {
  api: TradingApi;
}

/**
 * Gives `fn` order entry's environment (functions/orders/config.ts `orderEntryEnv`, the orders table, an
 * orders:write ledger key) and exactly its grants: one home for both functions that enter orders (orders over HTTP,
 * ws-connection over the WebSocket), so the two cannot drift apart.
 */
export function grantOrderEntry(fn: NodejsFunction, resources: OrderEntryResources): void {
  const { config, ledger, ordersTable, strategyTable, commandsQueue, events } = resources;
  const environment = {
    ORDERS_TABLE_NAME: ordersTable.tableName,
    STRATEGY_TABLE_NAME: strategyTable.tableName,
    COMMANDS_QUEUE_URL: commandsQueue.queueUrl,
    EVENTS_TOPIC_ARN: events.topic.topicArn,
    ORDER_RATE_LIMIT_PER_SECOND: String(config.orderRateLimitPerSecond),
    ORDER_HISTORY_RETENTION_DAYS: String(config.orderHistoryRetentionDays),
    ...ledger.environment('orders:write'),
  };
  for (const [name, value] of Object.entries(environment)) fn.addEnvironment(name, value);
  // Entry records (conditional put, read), rate counters (conditional update), a canceled order's execution
  // record (TransactWriteItems of conditional puts, BatchGetItem on a repeat) — as execute writes them.
  grantItems(ordersTable, fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:BatchGetItem');
  strategyTable.grant(fn, 'dynamodb:GetItem');
  commandsQueue.grantSendMessages(fn);
  events.grantPublish(fn);
  ledger.grantKeyRead(fn, 'orders:write');
}

/** POST /orders and DELETE /orders/{orderId} (people, JWT): the orders function (functions/orders). */
export class OrderEntry extends ResourceGroup {
  readonly ordersFunction: NodejsFunction;

  constructor(scope: Construct, id: string, props: OrderEntryProps) {
    super(scope, id);
    const { config, ledger } = props;
    const fn = createPipelineFunction(this, 'orders', config, {
      description: 'POST /orders, DELETE /orders/{orderId}: order entry and the ledger-decided cancel',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: {},
    });
    this.ordersFunction = fn;
    grantOrderEntry(fn, props);
    props.api.addRoutes(new HttpLambdaIntegration('OrdersIntegration', fn), [
      { path: '/orders', method: apigwv2.HttpMethod.POST, access: 'user' },
      { path: '/orders/{orderId}', method: apigwv2.HttpMethod.DELETE, access: 'user' },
    ]);
  }
}
