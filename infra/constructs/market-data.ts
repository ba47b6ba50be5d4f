import { Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { createPipelineFunction } from './pipeline-function';
import { pipelineTable } from './storage';
import { consumeTickStream } from './tick-stream-consumer';
import type { TradingApi } from './trading-api';

export interface MarketDataProps {
  config: InfraConfig;
  /** The tick stream market-data reads (a second consumer next to process). */
  stream: kinesis.IStream;
  /** Where GET /ticks and GET /candles are served. */
  api: TradingApi;
}

/**
 * Stored market data: the market-data function reads the tick stream into TicksTable and CandlesTable (keys in
 * shared/aws/market-data-store.ts, TTL `expiresAt`), and the market-data-api function serves them as
 * GET /ticks and GET /candles to every signed-in role.
 */
export class MarketData extends ResourceGroup {
  readonly ticksTable: dynamodb.Table;
  readonly candlesTable: dynamodb.Table;
  readonly failureQueue: sqs.Queue;
  readonly marketDataFunction: NodejsFunction;
  readonly marketDataApiFunction: NodejsFunction;

  constructor(scope: Construct, id: string, { config, stream, api }: MarketDataProps) {
    super(scope, id);
    const ttl = 'expiresAt';
    this.ticksTable = pipelineTable(this, 'TicksTable', config, {
      partitionKey: 'symbol',
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: ttl,
    });
    this.candlesTable = pipelineTable(this, 'CandlesTable', config, {
      partitionKey: 'series',
      sortKey: { name: 'start', type: dynamodb.AttributeType.NUMBER },
      timeToLiveAttribute: ttl,
    });
    const tables = { TICKS_TABLE_NAME: this.ticksTable.tableName, CANDLES_TABLE_NAME: this.candlesTable.tableName };

    const writer = createPipelineFunction(this, 'market-data', config, {
      description: 'Stores every tick of the stream and its 1m/5m/1h candles, exactly once',
      timeout: Duration.seconds(config.marketDataTimeoutSeconds),
      environment: {
        ...tables,
        TICKS_RETENTION_DAYS: String(config.ticksRetentionDays),
        CANDLES_1M_RETENTION_DAYS: String(config.candles1mRetentionDays),
        CANDLES_5M_RETENTION_DAYS: String(config.candles5mRetentionDays),
        CANDLES_1H_RETENTION_DAYS: String(config.candles1hRetentionDays),
      },
    });
    this.marketDataFunction = writer;
    // Conditional puts in a TransactWriteItems (each item a PutItem for IAM); slice and candle versions by BatchGetItem.
    this.ticksTable.grant(writer, 'dynamodb:BatchGetItem', 'dynamodb:PutItem');
    this.candlesTable.grant(writer, 'dynamodb:BatchGetItem', 'dynamodb:PutItem');
    this.failureQueue = consumeTickStream(this, writer, config, stream, {
      failureQueue: 'MarketDataFailureQueue',
      mapping: 'MarketDataTicksMapping',
    });

    const reader = createPipelineFunction(this, 'market-data-api', config, {
      description: 'GET /ticks, GET /candles',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      environment: tables,
    });
    this.marketDataApiFunction = reader;
    this.ticksTable.grant(reader, 'dynamodb:Query');
    this.candlesTable.grant(reader, 'dynamodb:Query');
    api.addRoutes(new HttpLambdaIntegration('MarketDataApiIntegration', reader), [
      { path: '/ticks', method: apigwv2.HttpMethod.GET, access: 'user' },
      { path: '/candles', method: apigwv2.HttpMethod.GET, access: 'user' },
    ]);
  }
}
