import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadInfraConfig } from '../../../infra/config';
import { TradingUserPool } from '../../../infra/constructs/user-pool';

/**
 * The trading API's user pool on its own (no function bundling): groups = the roles of shared/auth/principal.ts,
 * an immutable custom:account nobody but an admin sets, a public client for password and SRP sign-in with one-hour
 * tokens, no self sign-up, and nothing cdk-nag flags without a reason.
 */

function build(context: Record<string, unknown>): { stack: Stack; template: Template; users: TradingUserPool } {
  // CDK's CloudFormation validation runs on the whole app in test/integration/infra/synth.test.ts.
  const app = new App({ context, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'UsersTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const users = new TradingUserPool(stack, 'Users', loadInfraConfig(app.node));
  Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  app.synth();
  return { stack, template: Template.fromStack(stack), users };
}

const aws = build({ target: 'aws' });
const local = build({ target: 'localstack', raftAuthSecret: 'local-compose-secret-0123456789' });

describe('TradingUserPool', () => {
  it('is admin-created only, case-insensitive, with a strong password policy and threat protection', () => {
    aws.template.resourceCountIs('AWS::Cognito::UserPool', 1);
    aws.template.hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      UsernameConfiguration: { CaseSensitive: false },
      Policies: {
        PasswordPolicy: {
          MinimumLength: 12,
          RequireLowercase: true,
          RequireUppercase: true,
          RequireNumbers: true,
          RequireSymbols: true,
          TemporaryPasswordValidityDays: 3,
        },
      },
      UserPoolTier: 'PLUS',
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
      MfaConfiguration: 'OPTIONAL',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      AccountRecoverySetting: { RecoveryMechanisms: [{ Name: 'admin_only', Priority: 1 }] },
    });
  });

  it('declares custom:account as an immutable string', () => {
    aws.template.hasResourceProperties('AWS::Cognito::UserPool', {
      Schema: [
        {
          Name: 'account',
          AttributeDataType: 'String',
          Mutable: false,
          StringAttributeConstraints: { MinLength: '1', MaxLength: '64' },
        },
      ],
    });
  });

  it('has a public app client for password and SRP sign-in, one-hour tokens, that cannot write the account', () => {
    aws.template.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    aws.template.hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: false,
      ExplicitAuthFlows: Match.arrayEquals([
        'ALLOW_USER_PASSWORD_AUTH',
        'ALLOW_USER_SRP_AUTH',
        'ALLOW_REFRESH_TOKEN_AUTH',
      ]),
      IdTokenValidity: 60,
      AccessTokenValidity: 60,
      TokenValidityUnits: { IdToken: 'minutes', AccessToken: 'minutes', RefreshToken: 'minutes' },
      PreventUserExistenceErrors: 'ENABLED',
      EnableTokenRevocation: true,
      ReadAttributes: Match.arrayWith(['custom:account']),
    });
    const client = Object.values(aws.template.findResources('AWS::Cognito::UserPoolClient'))[0];
    const writable = (client?.Properties as { WriteAttributes: string[] }).WriteAttributes;
    expect(writable).not.toContain('custom:account');
    expect(writable.length).toBeGreaterThan(0); // an empty list would mean "all writable"
  });

  it('has one group per role, admin first', () => {
    const groups = Object.values(aws.template.findResources('AWS::Cognito::UserPoolGroup')).map(
      (g) => g.Properties as { GroupName: string; Precedence: number },
    );
    expect(groups.map(({ GroupName, Precedence }) => [GroupName, Precedence])).toEqual([
      ['admin', 0],
      ['trader', 1],
      ['viewer', 2],
    ]);
  });

  it('names the pool’s issuer (the JWT authorizer’s) and its JWKS', () => {
    expect(aws.stack.resolve(aws.users.issuer)).toEqual({ 'Fn::GetAtt': ['UserPool', 'ProviderURL'] });
    expect(JSON.stringify(aws.stack.resolve(aws.users.jwksUri))).toContain('/.well-known/jwks.json');
  });

  it('is retained (and deletion-protected) on aws, destroyed with the stack locally', () => {
    aws.template.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Retain',
      Properties: { DeletionProtection: 'ACTIVE' },
    });
    local.template.hasResource('AWS::Cognito::UserPool', {
      DeletionPolicy: 'Delete',
      Properties: { DeletionProtection: 'INACTIVE' },
    });
  });

  it('has no unresolved cdk-nag finding; the MFA suppression says why', () => {
    const nag = Match.stringLikeRegexp('AwsSolutions');
    for (const { stack } of [aws, local]) {
      const findings = [
        ...Annotations.fromStack(stack).findError('*', nag),
        ...Annotations.fromStack(stack).findWarning('*', nag),
      ];
      expect(findings.map((f) => String(f.entry.data).split(':')[0])).toEqual([]);
    }
    aws.template.hasResource('AWS::Cognito::UserPool', {
      Metadata: {
        cdk_nag: {
          rules_to_suppress: [{ id: 'AwsSolutions-COG2', reason: Match.stringLikeRegexp('non-interactively') }],
        },
      },
    });
  });
});
