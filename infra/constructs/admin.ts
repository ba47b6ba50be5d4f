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

export interface OperatorControlsProps {
  config: InfraConfig;
  ledger: RaftLedgerClient;
  api: TradingApi;
}

/**
 * The operator routes (IAM, and the function checks isAdmin): the admin function, the only one holding the ledger's
 * `admin` scope key — halt, resume, risk limits, cluster status.
 */
export class OperatorControls extends ResourceGroup {
  readonly adminFunction: NodejsFunction;

  constructor(scope: Construct, id: string, { config, ledger, api }: OperatorControlsProps) {
    super(scope, id);
    const fn = createPipelineFunction(this, 'admin', config, {
      description: 'POST /admin/halt, POST /admin/resume, PUT /admin/limits, GET /admin/cluster (audited)',
      timeout: Duration.seconds(config.apiTimeoutSeconds),
      vpcPlacement: ledger.vpcPlacement,
      environment: { ...ledger.environment('admin') },
    });
    this.adminFunction = fn;
    ledger.grantKeyRead(fn, 'admin');
    const integration = new HttpLambdaIntegration('AdminIntegration', fn);
    api.addRoutes(integration, [
      { path: '/admin/halt', method: apigwv2.HttpMethod.POST, access: 'iam' },
      { path: '/admin/resume', method: apigwv2.HttpMethod.POST, access: 'iam' },
      { path: '/admin/limits', method: apigwv2.HttpMethod.PUT, access: 'iam' },
      { path: '/admin/cluster', method: apigwv2.HttpMethod.GET, access: 'iam' },
    ]);
  }
}
