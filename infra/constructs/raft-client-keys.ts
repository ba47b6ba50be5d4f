import * as path from 'node:path';
import { CustomResource, Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import { Construct, type IDependable } from 'constructs';
import type { Scope } from '../../shared/ledger-contract/auth';
import { bundleAssetHash } from './bundle-hash';

/** The scopes the app's functions hold: execute and orders place (and cancel) orders, api reads, admin operates. */
export const FUNCTION_SCOPES = ['orders:write', 'read', 'admin'] as const satisfies readonly Scope[];
export type FunctionScope = (typeof FUNCTION_SCOPES)[number];

export interface RaftClientKeysProps {
  /** The cluster's root secret (RAFT_AUTH_SECRET): an ARN, or the secret itself. */
  rootSecretArn: string;
  removalPolicy: RemovalPolicy;
  /** Bump to re-issue the keys after the root secret got a new value (docs/security.md, rotation). */
  revision: string;
}

/**
 * One Secrets Manager secret per function scope, holding a key that mints tokens of that scope only
 * (RAFT_CLIENT_KEY, shared/ledger-contract/auth.ts), written at deploy time by a custom resource that derives it
 * from the root secret. A function is granted read on its own scope's secret and nothing else, so it never sees
 * the root secret and cannot mint another scope; the tokens it mints expire within minutes.
 */
export class RaftClientKeys extends Construct {
  readonly secrets: Record<FunctionScope, secretsmanager.Secret>;
  private readonly issue: CustomResource;

  constructor(scope: Construct, id: string, props: RaftClientKeysProps) {
    super(scope, id);
    this.secrets = {
      'orders:write': this.keySecret('OrdersWrite', 'orders:write', props.removalPolicy),
      read: this.keySecret('Read', 'read', props.removalPolicy),
      admin: this.keySecret('Admin', 'admin', props.removalPolicy),
    };
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.issuer(props.rootSecretArn),
      logGroup: new logs.LogGroup(this, 'ProviderLogGroup', { retention: logs.RetentionDays.ONE_WEEK }),
    });
    const resource = (this.issue = new CustomResource(this, 'Issue', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::RaftClientKeys',
      properties: {
        RootSecretArn: props.rootSecretArn,
        Keys: Object.fromEntries(FUNCTION_SCOPES.map((s) => [s, this.secrets[s].secretArn])),
        Revision: props.revision,
      },
    }));
    for (const secret of Object.values(this.secrets)) resource.node.addDependency(secret);
    this.suppressProviderFindings(provider);
  }

  /**
   * Issues the keys only once `nodes` are deployed. During a rotation every node must know the new root secret
   * before a function can pick up a key of it: a function starting cold in the middle of the nodes' roll would
   * otherwise mint tokens a node not yet restarted refuses.
   */
  issueAfter(...nodes: IDependable[]): void {
    this.issue.node.addDependency(...nodes);
  }

  /** Lets `fn` read its scope's key, and only that. */
  grantRead(grantee: iam.IGrantable, scope: FunctionScope): void {
    this.secrets[scope].grantRead(grantee);
  }

  private keySecret(id: string, scope: FunctionScope, removalPolicy: RemovalPolicy): secretsmanager.Secret {
    const secret = new secretsmanager.Secret(this, id, {
      description: `Raft ledger client key of scope ${scope} (RAFT_CLIENT_KEY), issued from RAFT_AUTH_SECRET at deploy`,
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'Derived from the root secret by the RaftClientKeys custom resource; it changes when the root secret ' +
          'is rotated and the keys re-issued (docs/security.md, rotation), not on a schedule of its own.',
      },
    ]);
    return secret;
  }

  /** The deploy-time function: reads the root secret, writes the scoped keys. Its role may do exactly that. */
  private issuer(rootSecretArn: string): NodejsFunction {
    const logGroup = new logs.LogGroup(this, 'IssuerLogGroup', { retention: logs.RetentionDays.ONE_WEEK });
    const role = new iam.Role(this, 'IssuerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Issues the Raft client keys from the root secret at deploy time',
    });
    logGroup.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents');
    role.addToPolicy(
      new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [rootSecretArn] }),
    );
    for (const secret of Object.values(this.secrets)) secret.grantWrite(role);
    const entry = path.resolve(__dirname, '..', 'handlers', 'raft-client-keys.ts');
    const fn = new NodejsFunction(this, 'Issuer', {
      entry,
      handler: 'handler',
      description: 'Writes each function scope its Raft client key (custom resource)',
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.seconds(30),
      role,
      logGroup,
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        target: 'node22',
        minify: true,
        externalModules: [],
        assetHash: bundleAssetHash(entry),
      },
    });
    NagSuppressions.addResourceSuppressions(fn, [
      { id: 'AwsSolutions-L1', reason: 'nodejs22.x, the runtime the rest of the app is built and tested for.' },
    ]);
    return fn;
  }

  /** cdk-nag findings on the Provider framework's own function and role, which CDK generates. */
  private suppressProviderFindings(provider: cr.Provider): void {
    NagSuppressions.addResourceSuppressions(
      provider,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason: "The custom-resource framework's onEvent function uses AWSLambdaBasicExecutionRole (logs only).",
          appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason: 'The framework may invoke the issuer function and its versions (`:*`), nothing else.',
        },
        { id: 'AwsSolutions-L1', reason: "The framework's runtime is chosen by aws-cdk-lib, not by this app." },
      ],
      true,
    );
  }
}
