import { CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { DELIVERY_LOG_KEY, DELIVERY_LOG_TTL_ATTRIBUTE } from '../../shared/aws/delivery-log';
import { CONNECTIONS_KEY, SUBSCRIPTIONS_KEY, WS_TTL_ATTRIBUTE } from '../../shared/aws/ws-connections';
import { LIVE_FORWARDED_ATTRIBUTE } from '../../shared/domain/live-delivery';
import type { InfraConfig } from '../config';
import { named, ResourceGroup } from './logical-ids';
import { OTHER_PUBLISHERS_MAX_CONCURRENCY, type OrderEvents } from './order-events';
import { grantOrderEntry, type OrderEntryResources } from './orders';
import { createPipelineFunction } from './pipeline-function';
import type { RaftLedgerClient } from './raft-ledger-client';
import { fifoQueueWithDlq, pipelineTable } from './storage';

/** How the $connect authorizer checks a user pool's ID tokens (TradingUserPool's issuer, client id and JWKS). */
export interface LiveDeliveryAuth {
  issuer: string;
  audience: string;
  jwksUri: string;
}

export interface LiveDeliveryProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
  auth: LiveDeliveryAuth;
  /** The ticks stream: the notifier's source of price updates. */
  stream: kinesis.IStream;
  /**
   * Order entry's resources (`order.submit` / `order.cancel` enter and cancel orders as POST and DELETE /orders
   * do); its orders table is also where `order.status` reads execute's records, as GET /orders/{orderId} does.
   */
  orderEntry: Omit<OrderEntryResources, 'config' | 'ledger'>;
  /** market-data's candles: the notifier reads the current ones for `candle.update`. */
  candlesTable: dynamodb.ITable;
}

export const WS_STAGE = 'live';
/** The client's actions, each a route of the API (route selection: `$request.body.action`). */
const ACTION_ROUTES = ['subscribe', 'unsubscribe', 'order.status', 'resume', 'order.submit', 'order.cancel'] as const;
const DELIVERY_LOG_RETENTION = Duration.days(1);

/**
 * Live delivery over a WebSocket API: the API and its `live` stage (throttled, access-logged), the $connect
 * Lambda authorizer (WebSocket APIs take no JWT authorizer), the connection function behind every route, the
 * connections / subscriptions / delivery-log tables, and the notifier that posts order updates (from its own FIFO
 * queue, to be subscribed to the order-events topic) and prices (from the ticks stream) through @connections.
 */
export class LiveDelivery extends ResourceGroup {
  readonly webSocketApi: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  /**
   * The notifier's source of order events: subscribe it to the order-events topic (raw message delivery), leaving
   * out the events whose publisher sent their updates itself (`subscribeTo`, `grantSendUpdates`).
   */
  readonly orderEventsQueue: sqs.Queue;
  readonly orderEventsDlq: sqs.Queue;
  /**
   * The same events regrouped by account (group = account), sent by execute for its own orders and forwarded by
   * the notifier for the other publishers': one batch of an account is given its seqs at a time, so the notifiers
   * of the symbol groups never race on an account's counter.
   */
  readonly accountUpdatesQueue: sqs.Queue;
  readonly accountUpdatesDlq: sqs.Queue;
  /** Every order update as numbered per account (resume reads it; verify checks it). */
  readonly deliveryLogTable: dynamodb.Table;
  readonly authorizerFunction: NodejsFunction;
  readonly connectionFunction: NodejsFunction;
  readonly notifierFunction: NodejsFunction;

  constructor(scope: Construct, id: string, props: LiveDeliveryProps) {
    super(scope, id);
    const { config } = props;
    const tables = {
      connections: pipelineTable(this, 'WsConnectionsTable', config, {
        partitionKey: CONNECTIONS_KEY.partitionKey,
        timeToLiveAttribute: WS_TTL_ATTRIBUTE,
      }),
      subscriptions: pipelineTable(this, 'WsSubscriptionsTable', config, {
        partitionKey: SUBSCRIPTIONS_KEY.partitionKey,
        sortKey: { name: SUBSCRIPTIONS_KEY.sortKey, type: dynamodb.AttributeType.STRING },
        timeToLiveAttribute: WS_TTL_ATTRIBUTE,
      }),
      deliveryLog: pipelineTable(this, 'WsDeliveryLogTable', config, {
        partitionKey: DELIVERY_LOG_KEY.partitionKey,
        sortKey: { name: DELIVERY_LOG_KEY.sortKey, type: dynamodb.AttributeType.NUMBER },
        timeToLiveAttribute: DELIVERY_LOG_TTL_ATTRIBUTE,
      }),
    };
    this.deliveryLogTable = tables.deliveryLog;
    const events = fifoQueueWithDlq(
      this,
      { queue: 'WsOrderEventsQueue', dlq: 'WsOrderEventsDlq' },
      config,
      Duration.seconds(60),
    );
    this.orderEventsQueue = events.queue;
    this.orderEventsDlq = events.dlq;
    const accountUpdates = fifoQueueWithDlq(
      this,
      { queue: 'WsAccountUpdatesQueue', dlq: 'WsAccountUpdatesDlq' },
      config,
      Duration.seconds(60),
    );
    this.accountUpdatesQueue = accountUpdates.queue;
    this.accountUpdatesDlq = accountUpdates.dlq;

    this.webSocketApi = named(
      new apigwv2.WebSocketApi(this, 'WebSocketApi', {
        description:
          'Live delivery: prices, candles and order updates; subscribe, unsubscribe, order.status, resume, ' +
          'order.submit, order.cancel',
        routeSelectionExpression: '$request.body.action',
      }),
    );
    this.stage = this.liveStage(config);
    const liveEnv = {
      CONNECTIONS_TABLE_NAME: tables.connections.tableName,
      SUBSCRIPTIONS_TABLE_NAME: tables.subscriptions.tableName,
      DELIVERY_LOG_TABLE_NAME: tables.deliveryLog.tableName,
      DELIVERY_LOG_RETENTION_S: String(DELIVERY_LOG_RETENTION.toSeconds()),
      // The stage's URL; @connections lives under it (shared/aws/connection-poster.ts).
      WS_CALLBACK_URL: `${this.webSocketApi.apiEndpoint}/${WS_STAGE}`,
    };
    this.authorizerFunction = this.authorizer(props);
    this.connectionFunction = this.connections(props, liveEnv, tables);
    this.notifierFunction = this.notifier(props, liveEnv, tables);
  }

  /**
   * Subscribes the notifier's order-events queue to the topic, leaving out the events marked as sent to live
   * delivery already (LIVE_FORWARDED_ATTRIBUTE: execute's, see grantSendUpdates).
   */
  subscribeTo(events: OrderEvents): void {
    events.subscribeQueue(this.orderEventsQueue, {
      [LIVE_FORWARDED_ATTRIBUTE]: sns.SubscriptionFilter.notExistsFilter(),
    });
  }

  /**
   * Lets `fn` send order updates to the account-updates queue itself and tells it the queue's URL: the forward
   * hop through the notifier cost a queue delivery, a receive, an invocation and a send per ten orders.
   */
  grantSendUpdates(fn: lambda.Function): void {
    this.accountUpdatesQueue.grantSendMessages(fn);
    fn.addEnvironment('ACCOUNT_UPDATES_QUEUE_URL', this.accountUpdatesQueue.queueUrl);
  }

  private authorizer({ config, auth }: LiveDeliveryProps): NodejsFunction {
    return createPipelineFunction(this, 'ws-authorizer', config, {
      description: "The WebSocket API's $connect authorizer: verifies the user pool's ID token",
      timeout: Duration.seconds(10),
      environment: { JWT_ISSUER: auth.issuer, JWT_AUDIENCE: auth.audience, USER_POOL_JWKS_URI: auth.jwksUri },
    });
  }

  private connections(
    { config, ledger, orderEntry }: LiveDeliveryProps,
    liveEnv: Record<string, string>,
    tables: Record<'connections' | 'subscriptions' | 'deliveryLog', dynamodb.Table>,
  ): NodejsFunction {
    const fn = createPipelineFunction(this, 'ws-connection', config, {
      description:
        'WebSocket routes: $connect, $disconnect, subscribe, unsubscribe, order.status, resume, order.submit, ' +
        'order.cancel, $default',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: liveEnv,
    });
    // Order entry's environment and grants, the orders function's exactly; its orders:write key reads too.
    grantOrderEntry(fn, { config, ledger, ...orderEntry });
    tables.connections.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    tables.subscriptions.grant(fn, 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem');
    tables.deliveryLog.grant(fn, 'dynamodb:GetItem', 'dynamodb:Query');
    this.grantPostToConnections(fn);

    const integration = (name: string) => new WebSocketLambdaIntegration(name, fn);
    // No identity source: the token may come as ?token= or in Sec-WebSocket-Protocol (browsers), and API Gateway
    // would answer 401 before the authorizer runs if a listed source were missing. The authorizer refuses a
    // request with neither.
    const authorizer = new WebSocketLambdaAuthorizer('WsConnectAuthorizer', this.authorizerFunction, {
      identitySource: [],
    });
    this.webSocketApi.addRoute('$connect', { integration: integration('WsConnectIntegration'), authorizer });
    this.webSocketApi.addRoute('$disconnect', { integration: integration('WsDisconnectIntegration') });
    this.webSocketApi.addRoute('$default', { integration: integration('WsDefaultIntegration') });
    for (const action of ACTION_ROUTES)
      this.webSocketApi.addRoute(action, { integration: integration(`Ws${action}Integration`) });
    // After every route exists: the suppression is applied to the API's children as they are now.
    NagSuppressions.addResourceSuppressions(
      this.webSocketApi,
      [
        {
          id: 'AwsSolutions-APIG4',
          reason:
            'A WebSocket API authorizes once, at $connect (the Lambda authorizer on the user pool token); later ' +
            'routes of that connection cannot carry an authorizer, and the function reads the principal stored at ' +
            '$connect for every message.',
        },
      ],
      true,
    );
    return fn;
  }

  private notifier(
    { config, stream, candlesTable }: LiveDeliveryProps,
    liveEnv: Record<string, string>,
    tables: Record<'connections' | 'subscriptions' | 'deliveryLog', dynamodb.Table>,
  ): NodejsFunction {
    const fn = createPipelineFunction(this, 'ws-notifier', config, {
      description: 'Posts order updates (with their seq), prices and candles to the subscribed WebSocket connections',
      timeout: Duration.seconds(30),
      environment: {
        ...liveEnv,
        CANDLES_TABLE_NAME: candlesTable.tableName,
        ACCOUNT_UPDATES_QUEUE_URL: this.accountUpdatesQueue.queueUrl,
        ACCOUNT_UPDATES_QUEUE_ARN: this.accountUpdatesQueue.queueArn,
      },
    });
    candlesTable.grant(fn, 'dynamodb:BatchGetItem');
    tables.connections.grant(fn, 'dynamodb:GetItem', 'dynamodb:DeleteItem');
    tables.subscriptions.grant(fn, 'dynamodb:Query', 'dynamodb:BatchWriteItem');
    // appendAll only: it reads counters and dedup rows (BatchGetItem) and writes by TransactWriteItems of puts.
    tables.deliveryLog.grant(fn, 'dynamodb:BatchGetItem', 'dynamodb:PutItem');
    this.grantPostToConnections(fn);
    this.accountUpdatesQueue.grantSendMessages(fn);
    const fromQueue = { batchSize: config.sqsBatchSize, reportBatchItemFailures: true };
    fn.addEventSource(
      new SqsEventSource(this.orderEventsQueue, { ...fromQueue, maxConcurrency: OTHER_PUBLISHERS_MAX_CONCURRENCY }),
    );
    fn.addEventSource(new SqsEventSource(this.accountUpdatesQueue, fromQueue));
    // Prices are superseded by the next tick: start at the newest, retry little, and never hold the shard long.
    fn.addEventSource(
      new KinesisEventSource(stream, {
        startingPosition: lambda.StartingPosition.LATEST,
        batchSize: config.kinesisBatchSize,
        retryAttempts: 2,
        maxRecordAge: Duration.minutes(1),
        bisectBatchOnError: false,
      }),
    );
    const mappings = fn.node.children.filter((c) => c instanceof lambda.EventSourceMapping);
    ['WsNotifierOrderEventsMapping', 'WsNotifierAccountUpdatesMapping', 'WsNotifierTicksMapping'].forEach(
      (logicalId, i) => {
        const resource = mappings[i]?.node.defaultChild;
        if (resource instanceof CfnResource) resource.overrideLogicalId(logicalId);
      },
    );
    return fn;
  }

  /**
   * POST to @connections on the live stage only (not GET/DELETE, not other stages). Connection ids are made per
   * client at runtime, so the resource ends in a wildcard.
   */
  private grantPostToConnections(fn: NodejsFunction): void {
    const resource = Stack.of(this).formatArn({
      service: 'execute-api',
      resource: this.webSocketApi.apiId,
      resourceName: `${WS_STAGE}/POST/@connections/*`,
    });
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['execute-api:ManageConnections'], resources: [resource] }));
    NagSuppressions.addResourceSuppressions(
      fn.role!,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'Connection ids are created per client at runtime; the grant is POST on the live stage only.',
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:execute-api:.*/live/POST/@connections/\\*$/g' }],
        },
      ],
      true,
    );
  }

  /** The `live` stage, auto-deployed, throttled like the HTTP API, with JSON access logs. */
  private liveStage(config: InfraConfig): apigwv2.WebSocketStage {
    const accessLogGroup = new logs.LogGroup(this, 'WebSocketAccessLogGroup', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    return named(
      new apigwv2.WebSocketStage(this, 'WebSocketStage', {
        webSocketApi: this.webSocketApi,
        stageName: WS_STAGE,
        autoDeploy: true,
        throttle: { rateLimit: config.apiThrottleRatePerSecond, burstLimit: config.apiThrottleBurst },
        accessLogSettings: {
          destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
          format: AccessLogFormat.custom(
            JSON.stringify({
              requestId: '$context.requestId',
              routeKey: '$context.routeKey',
              eventType: '$context.eventType',
              connectionId: '$context.connectionId',
              status: '$context.status',
              sub: '$context.authorizer.sub',
              sourceIp: '$context.identity.sourceIp',
              requestTime: '$context.requestTime',
              integrationError: '$context.integrationErrorMessage',
            }),
          ),
        },
      }),
    );
  }
}
