import { Duration } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import { ResourceGroup } from './logical-ids';
import { createPipelineFunction } from './pipeline-function';
import type { RaftLedgerClient } from './raft-ledger-client';
import type { TradingApi } from './trading-api';
import { grantQueueDepths, watchedQueuesEnvironment, type WatchedQueue } from './watched-queues';

export interface OperatorControlsProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
  api: TradingApi;
  /** The queues GET /admin/cluster reports depths of (the same list the alarms watch). */
  queues: readonly WatchedQueue[];
}

/** The operations, each served on two paths: `/admin/*` for IAM principals, `/operator/*` for admin-group users. */
const OPERATIONS = [
  { op: 'halt', method: apigwv2.HttpMethod.POST },
  { op: 'resume', method: apigwv2.HttpMethod.POST },
  { op: 'limits', method: apigwv2.HttpMethod.PUT },
  { op: 'cluster', method: apigwv2.HttpMethod.GET },
] as const;

/**
 * The operator routes: the admin function, the only one holding the ledger's `admin` scope key — halt, resume, risk
 * limits, cluster status (members, queue depths, dead letters). An HTTP API route has one authorizer, so each
 * operation has two routes to the same function: `/admin/<op>` with IAM (SigV4: CLIs, automation, other accounts'
 * roles) and `/operator/<op>` with the user pool's JWT (people of the admin group: the web console). The function
 * checks isAdmin on both (an IAM caller is an operator by its policy; a user only in the admin group).
 */
export class OperatorControls extends ResourceGroup {
  readonly adminFunction: NodejsFunction;

  constructor(scope: Construct, id: string, { config, ledger, api, queues }: OperatorControlsProps) {
    super(scope, id);
    const fn = createPipelineFunction(this, 'admin', config, {
      description: 'halt, resume, limits, cluster on /admin/* (IAM) and /operator/* (admin users); audited',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: { ...ledger.environment('admin'), ...watchedQueuesEnvironment(queues) },
    });
    this.adminFunction = fn;
    ledger.grantKeyRead(fn, 'admin');
    grantQueueDepths(fn, queues);
    const integration = new HttpLambdaIntegration('AdminIntegration', fn);
    api.addRoutes(integration, [
      ...OPERATIONS.map(({ op, method }) => ({ path: `/admin/${op}`, method, access: 'iam' as const })),
      ...OPERATIONS.map(({ op, method }) => ({ path: `/operator/${op}`, method, access: 'user' as const })),
    ]);
  }
}
