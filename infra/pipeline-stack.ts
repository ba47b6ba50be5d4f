import { CfnOutput, type StackProps } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import type { InfraConfig } from './config';
import { LiveDelivery } from './constructs/live-delivery';
import { GroupingStack } from './constructs/logical-ids';
import { MarketData } from './constructs/market-data';
import { OrderExecution } from './constructs/order-execution';
import { PipelineObservability } from './constructs/pipeline-observability';
import type { WatchedQueue } from './constructs/watched-queues';
import { FUNCTION_NAMES, pascal, type FunctionName } from './constructs/pipeline-function';
import { RaftLedgerClient, type RaftClusterAccess } from './constructs/raft-ledger-client';
import { StrategyProcessing } from './constructs/strategy-processing';
import { TickIngestion } from './constructs/tick-ingestion';
import { TradingApi } from './constructs/trading-api';
import { TradingUserPool } from './constructs/user-pool';
import { OrderEntry } from './constructs/orders';
import { OperatorControls } from './constructs/admin';

export interface PipelineStackProps extends StackProps {
  config: InfraConfig;
  /** Present when the app deploys the Raft cluster; otherwise the members come from context. */
  raftCluster?: RaftClusterAccess;
}

/**
 * Ticks → Kinesis → process (strategy) → commands FIFO → execute (Raft ledger) → events FIFO,
 * with the HTTP API (POST /ticks, GET /orders/{orderId}, GET /positions, GET /health) and the feed schedule.
 *
 * Main resources keep their construct id as CloudFormation logical id (TicksStream, CommandsQueue,
 * IngestFunction, …) so the template reads like the architecture; the constructs below group them by job
 * without changing any logical id (see ResourceGroup).
 */
export class PipelineStack extends GroupingStack {
  readonly ingestion: TickIngestion;
  readonly strategy: StrategyProcessing;
  readonly execution: OrderExecution;
  readonly api: TradingApi;
  readonly users: TradingUserPool;
  readonly live: LiveDelivery;
  readonly marketData: MarketData;
  readonly functions: Record<FunctionName, NodejsFunction>;

  constructor(scope: Construct, id: string, props: PipelineStackProps) {
    super(scope, id, props);
    const { config } = props;
    const ledger = new RaftLedgerClient(this, config, props.raftCluster);

    this.ingestion = new TickIngestion(this, 'TickIngestion', config);
    this.execution = new OrderExecution(this, 'OrderExecution', { config, ledger });
    const { stream, ingestFunction } = this.ingestion;
    const { commandsQueue, commandsDlq, eventsQueue, eventsDlq, ordersTable } = this.execution;
    this.strategy = new StrategyProcessing(this, 'StrategyProcessing', { config, stream, commandsQueue });
    this.users = new TradingUserPool(this, 'Users', config);
    this.api = new TradingApi(this, 'TradingApi', { config, ledger, ordersTable, ingestFunction, users: this.users });
    const { issuer, jwksUri, client } = this.users;
    const auth = { issuer, jwksUri, audience: client.userPoolClientId };
    const { processFailureQueue, strategyTable } = this.strategy;
    const orderEntry = { ordersTable, strategyTable, commandsQueue, events: this.execution.events };
    this.marketData = new MarketData(this, 'MarketData', { config, stream, api: this.api });
    const { candlesTable } = this.marketData;
    this.live = new LiveDelivery(this, 'LiveDelivery', { config, ledger, auth, stream, orderEntry, candlesTable });
    this.execution.grantHistoryQuery(this.api.apiFunction);
    this.live.subscribeTo(this.execution.events);
    this.live.grantSendUpdates(this.execution.executeFunction);
    const entry = new OrderEntry(this, 'OrderEntry', { config, ledger, api: this.api, ...orderEntry });
    const queues = this.watchedQueues();
    const operator = new OperatorControls(this, 'OperatorControls', { config, ledger, api: this.api, queues });
    this.functions = {
      ingest: ingestFunction,
      process: this.strategy.processFunction,
      execute: this.execution.executeFunction,
      api: this.api.apiFunction,
      'ws-authorizer': this.live.authorizerFunction,
      'ws-connection': this.live.connectionFunction,
      'ws-notifier': this.live.notifierFunction,
      'market-data': this.marketData.marketDataFunction,
      'market-data-api': this.marketData.marketDataApiFunction,
      orders: entry.ordersFunction,
      admin: operator.adminFunction,
    };
    new PipelineObservability(this, 'Observability', {
      config,
      stream,
      functions: this.functions,
      queues,
    });

    // Outputs: the names the tools and the README use.
    const outputs: Record<string, string> = {
      TicksStreamName: stream.streamName,
      CommandsQueueUrl: commandsQueue.queueUrl,
      CommandsDlqUrl: commandsDlq.queueUrl,
      EventsQueueUrl: eventsQueue.queueUrl,
      EventsDlqUrl: eventsDlq.queueUrl,
      ProcessFailureQueueUrl: processFailureQueue.queueUrl,
      OrdersTableName: ordersTable.tableName,
      StrategyStateTableName: strategyTable.tableName,
      EventsTopicArn: this.execution.events.topic.topicArn,
      TicksTableName: this.marketData.ticksTable.tableName,
      CandlesTableName: this.marketData.candlesTable.tableName,
      MarketDataFailureQueueUrl: this.marketData.failureQueue.queueUrl,
      HttpApiUrl: this.api.httpApi.apiEndpoint,
      // For callers' IAM policies: execute-api:Invoke on this ARN (the IAM-authorized routes).
      HttpApiExecuteArn: this.api.httpApi.arnForExecuteApi(),
      RaftMembers: ledger.members,
      // npm run token signs users in through these (docs/api.md#authentication).
      UserPoolId: this.users.userPool.userPoolId,
      UserPoolClientId: this.users.client.userPoolClientId,
      WebSocketUrl: this.live.stage.url,
      // The notifier's own subscription of the order events topic (raw message delivery).
      WsOrderEventsQueueUrl: this.live.orderEventsQueue.queueUrl,
      // The same events regrouped by account (the notifier's second queue): with the first, live delivery's backlog.
      WsAccountUpdatesQueueUrl: this.live.accountUpdatesQueue.queueUrl,
      // The live updates as numbered: verify checks each executed order's is there once.
      WsDeliveryLogTableName: this.live.deliveryLogTable.tableName,
    };
    for (const name of FUNCTION_NAMES) outputs[`${pascal(name)}FunctionName`] = this.functions[name].functionName;
    for (const [outputId, value] of Object.entries(outputs)) new CfnOutput(this, outputId, { value });
  }

  /** Every stage's queue and dead letters: what the alarms watch and GET /admin/cluster reports. */
  private watchedQueues(): WatchedQueue[] {
    return [
      {
        name: 'commands',
        queue: this.execution.commandsQueue,
        deadLetters: this.execution.commandsDlq,
        what: 'order commands execute could not process',
      },
      {
        name: 'events',
        queue: this.execution.eventsQueue,
        deadLetters: this.execution.eventsDlq,
        what: 'order events verify/status could not process',
      },
      {
        name: 'ws-notifier',
        queue: this.live.orderEventsQueue,
        deadLetters: this.live.orderEventsDlq,
        what: 'order events not forwarded to the account-updates queue',
      },
      {
        name: 'ws-account-updates',
        queue: this.live.accountUpdatesQueue,
        deadLetters: this.live.accountUpdatesDlq,
        what: 'order updates not delivered to WebSocket clients',
      },
      { name: 'process', deadLetters: this.strategy.processFailureQueue, what: 'tick batches process gave up on' },
      {
        name: 'market-data',
        deadLetters: this.marketData.failureQueue,
        what: 'tick batches the market-data writer gave up on',
      },
    ];
  }
}
