import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { named, ResourceGroup } from './logical-ids';
import { createPipelineFunction } from './pipeline-function';
import type { RaftLedgerClient } from './raft-ledger-client';
import { grantItems } from './storage';
import type { TradingUserPool } from './user-pool';

export type RouteAccess = 'iam' | 'user';
export interface ApiRoute {
  path: string;
  method: apigwv2.HttpMethod;
  access: RouteAccess;
}

export interface TradingApiProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
  /** What GET /orders/{orderId} reads (execute's idempotency records). */
  ordersTable: dynamodb.ITable;
  /** The function behind POST /ticks. */
  ingestFunction: lambda.IFunction;
  /** Whose ID tokens authorize the `user` routes. */
  users: TradingUserPool;
}

/**
 * The HTTP API (IAM-authorized, throttled, access-logged): POST /ticks → ingest, and the api function behind
 * GET /orders/{orderId}, GET /positions and GET /health.
 */
export class TradingApi extends ResourceGroup {
  readonly httpApi: apigwv2.HttpApi;
  readonly apiFunction: NodejsFunction;
  private readonly iamAuthorizer = new HttpIamAuthorizer();
  private readonly userAuthorizer: HttpJwtAuthorizer;

  constructor(scope: Construct, id: string, { config, ledger, ordersTable, ingestFunction, users }: TradingApiProps) {
    super(scope, id);
    // ID tokens (aud = the app client): they carry custom:account and cognito:groups, which principal.ts reads.
    // An access token of the same client passes here too (API Gateway matches its client_id when it has no aud), but
    // it carries neither claim, so principal.ts refuses it (403).
    this.userAuthorizer = new HttpJwtAuthorizer('UserPoolAuthorizer', users.issuer, {
      authorizerName: 'UserPoolIdToken',
      jwtAudience: [users.client.userPoolClientId],
      identitySource: ['$request.header.Authorization'],
    });
    const api = createPipelineFunction(this, 'api', config, {
      description: 'GET /orders/{orderId}, GET /positions, GET /health',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: { ORDERS_TABLE_NAME: ordersTable.tableName, ...ledger.environment('read') },
    });
    this.apiFunction = api;
    grantItems(ordersTable, api, 'dynamodb:GetItem');
    ledger.grantKeyRead(api, 'read');

    // Every route is authorized (IAM by default, the user pool's tokens where a route says `user`): never open.
    this.httpApi = named(
      new apigwv2.HttpApi(this, 'HttpApi', {
        description: 'Trading pipeline: POST /ticks, GET /orders/{orderId}, GET /positions, GET /health',
        createDefaultStage: false,
        defaultAuthorizer: this.iamAuthorizer,
      }),
    );
    this.defaultStage(config);
    const ingestIntegration = new HttpLambdaIntegration('IngestIntegration', ingestFunction);
    const apiIntegration = new HttpLambdaIntegration('ApiIntegration', api);
    this.addRoutes(ingestIntegration, [{ path: '/ticks', method: apigwv2.HttpMethod.POST, access: 'iam' }]);
    this.addRoutes(apiIntegration, [
      { path: '/orders', method: apigwv2.HttpMethod.GET, access: 'user' },
      { path: '/orders/{orderId}', method: apigwv2.HttpMethod.GET, access: 'user' },
      { path: '/positions', method: apigwv2.HttpMethod.GET, access: 'user' },
      { path: '/health', method: apigwv2.HttpMethod.GET, access: 'iam' },
    ]);
  }

  /**
   * Adds routes to the HTTP API. `iam`: SigV4-signed callers whose IAM policy allows execute-api:Invoke
   * (services, operators). `user`: people and their programs, authorized by the user pool's tokens; the
   * function reads the principal with shared/auth/principal.ts and checks the role and account itself
   * (Cognito groups are claims, not OAuth scopes, so the route cannot check them).
   */
  addRoutes(integration: HttpLambdaIntegration, routes: ApiRoute[]): void {
    for (const { path, method, access } of routes) {
      this.httpApi.addRoutes({ path, methods: [method], integration, authorizer: this.authorizerFor(access) });
    }
  }

  private authorizerFor(access: RouteAccess): apigwv2.IHttpRouteAuthorizer {
    return access === 'user' ? this.userAuthorizer : this.iamAuthorizer;
  }

  /** The $default stage, auto-deployed, with stage throttling and JSON access logs. */
  private defaultStage(config: InfraConfig): void {
    const accessLogGroup = new logs.LogGroup(this, 'HttpApiAccessLogGroup', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    named(
      new apigwv2.HttpStage(this, 'HttpApiStage', {
        httpApi: this.httpApi,
        stageName: '$default',
        autoDeploy: true,
        throttle: { rateLimit: config.apiThrottleRatePerSecond, burstLimit: config.apiThrottleBurst },
        accessLogSettings: {
          destination: new apigwv2.LogGroupLogDestination(accessLogGroup),
          format: AccessLogFormat.custom(
            JSON.stringify({
              requestId: '$context.requestId',
              routeKey: '$context.routeKey',
              status: '$context.status',
              caller: '$context.identity.caller',
              sourceIp: '$context.identity.sourceIp',
              requestTime: '$context.requestTime',
              latencyMs: '$context.responseLatency',
              integrationError: '$context.integrationErrorMessage',
            }),
          ),
        },
      }),
    );
  }
}
