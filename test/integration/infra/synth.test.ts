import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, CfnResource, Stack } from 'aws-cdk-lib';
import { FUNCTION_NAMES, pascal } from '../../../infra/constructs/pipeline-function';
import { assemblyDir, buildTradingApp, templateValidationFindings } from './app-harness';

type Template = { Resources: Record<string, { Type: string; Metadata?: Record<string, unknown> }> };

/** CloudFormation resource namespace → the IAM service prefix CloudFormation calls to manage it. */
const CFN_NAMESPACE_TO_IAM_PREFIX: Record<string, string> = {
  ApiGatewayV2: 'apigateway',
  CloudWatch: 'cloudwatch',
  Cognito: 'cognito-idp',
  DynamoDB: 'dynamodb',
  EC2: 'ec2',
  ECS: 'ecs',
  EFS: 'elasticfilesystem',
  IAM: 'iam',
  Kinesis: 'kinesis',
  Lambda: 'lambda',
  Logs: 'logs',
  SNS: 'sns',
  SQS: 'sqs',
  Scheduler: 'scheduler',
  SecretsManager: 'secretsmanager',
  ServiceDiscovery: 'servicediscovery',
};

/**
 * The whole app synthesized offline for each target, as `cdk synth` does (same stacks, aspects, bundling),
 * into a cloud assembly the deployers read: templates plus each function's bundled code.
 */
// Both targets synthesize into one directory so the functions are bundled once; what each test needs from an
// assembly is read right after that assembly's synth, before the next target's overwrites the templates.
const outdir = assemblyDir();
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe.each([
  ['aws', ['PipelineStack', 'RaftClusterStack']],
  ['localstack', ['PipelineStack']],
])('cdk synth -c target=%s', (target, expectedStacks) => {
  const context = target === 'localstack' ? { target, raftAuthSecret: 'compose-secret-0123456789' } : { target };
  const assembly = buildTradingApp(context, outdir, { validateTemplates: true }).app.synth();
  const validationFindings = templateValidationFindings(assembly.directory);
  const stackNames = assembly.stacks.map((stack) => stack.stackName).sort();
  const pipelineDependencies = assembly.getStackByName('PipelineStack').dependencies.map((artifact) => artifact.id);
  const template = assembly.getStackByName('PipelineStack').template as Template;

  const resourceTypes = new Set(
    assembly.stacks.flatMap((stack) =>
      Object.values((stack.template as Template).Resources).map((resource) => resource.Type),
    ),
  );

  it('infra/cfn-execution-policy.json covers the service of every resource type', () => {
    const policy = JSON.parse(
      readFileSync(path.resolve(__dirname, '../../../infra/cfn-execution-policy.json'), 'utf8'),
    ) as {
      Statement: { Action: string | string[]; Resource: string | string[] }[];
    };
    const actions = policy.Statement.flatMap((statement) =>
      Array.isArray(statement.Action) ? statement.Action : [statement.Action],
    );
    const prefixes = new Set(actions.map((action) => action.split(':')[0]));
    for (const type of resourceTypes) {
      if (type === 'AWS::CDK::Metadata') continue;
      const namespace = type.split('::')[1] ?? '';
      // A custom resource is CloudFormation invoking its service token, a Lambda function (lambda:InvokeFunction).
      const prefix = type.startsWith('Custom::') ? 'lambda' : CFN_NAMESPACE_TO_IAM_PREFIX[namespace];
      expect({ type, prefix }).toEqual({ type, prefix: expect.any(String) });
      expect({ type, covered: prefixes.has(prefix ?? '') }).toEqual({ type, covered: true });
    }
    // Roles are created and passed only under the stacks' own names.
    const iamStatement = policy.Statement.find((statement) =>
      JSON.stringify(statement.Action).includes('iam:PassRole'),
    );
    for (const stack of expectedStacks) expect(JSON.stringify(iamStatement?.Resource)).toContain(`role/${stack}-*`);
  });

  it(target === 'aws' ? 'puts the permissions boundary on every role' : 'puts no boundary on local roles', () => {
    const roles = assembly.stacks.flatMap((stack) =>
      Object.values(
        (stack.template as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> })
          .Resources,
      ).filter((resource) => resource.Type === 'AWS::IAM::Role'),
    );
    expect(roles.length).toBeGreaterThan(3);
    for (const role of roles) {
      const boundary = JSON.stringify(role.Properties?.PermissionsBoundary ?? null);
      if (target === 'aws') expect(boundary).toContain(':policy/cdk-hnb659fds-permissions-boundary');
      else expect(boundary).toBe('null');
    }
  });

  it('lets the deploy role create or change roles only with that boundary on them', () => {
    const policy = JSON.parse(
      readFileSync(path.resolve(__dirname, '../../../infra/cfn-execution-policy.json'), 'utf8'),
    ) as { Statement: { Effect: string; Action: string[]; Condition?: Record<string, Record<string, string>> }[] };
    for (const action of ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:AttachRolePolicy']) {
      const allowing = policy.Statement.filter((st) => st.Effect === 'Allow' && st.Action.includes(action));
      expect(allowing).toHaveLength(1);
      expect(allowing[0]?.Condition?.StringEquals?.['iam:PermissionsBoundary']).toMatch(
        /:policy\/cdk-hnb659fds-permissions-boundary$/,
      );
    }
    const denied = policy.Statement.filter((st) => st.Effect === 'Deny').flatMap((st) => st.Action);
    expect(denied).toEqual(
      expect.arrayContaining(['iam:DeleteRolePermissionsBoundary', 'iam:PutRolePermissionsBoundary']),
    );
  });

  it('passes CDK’s CloudFormation validation (resource schemas, default rules) without a finding', () => {
    expect(validationFindings).toEqual([]);
  });

  it(`produces ${expectedStacks.join(' + ')}`, () => {
    expect(stackNames).toEqual(expectedStacks);
    if (target === 'aws') expect(pipelineDependencies).toContain('RaftClusterStack');
    else expect(pipelineDependencies).not.toContain('RaftClusterStack');
  });

  it('bundles every function (minified, with a source map) into the cloud assembly', () => {
    for (const name of FUNCTION_NAMES) {
      const logicalId = `${pascal(name)}Function`;
      const metadata = template.Resources[logicalId]?.Metadata ?? {};
      expect(metadata['aws:asset:property']).toBe('Code');
      const assetDir = path.join(assembly.directory, String(metadata['aws:asset:path']));
      const bundle = path.join(assetDir, 'index.js');
      expect(existsSync(bundle)).toBe(true);
      expect(existsSync(`${bundle}.map`)).toBe(true);
      const code = readFileSync(bundle, 'utf8');
      // esbuild --minify: lines thousands of characters long, and the handler is exported for `index.handler`.
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
      expect(code).toMatch(/handler/);
      expect(statSync(bundle).size).toBeGreaterThan(0);
    }
  });
});

describe('the validation check', () => {
  it('reads what CDK’s CloudFormation validation reports (a queue with a wrong and an unknown property)', () => {
    const app = new App({ outdir: mkdtempSync(path.join(tmpdir(), 'infra-validation-')) });
    const stack = new Stack(app, 'Broken');
    new CfnResource(stack, 'Queue', { type: 'AWS::SQS::Queue', properties: { VisibilityTimeout: 'soon', Colour: 1 } });
    // CDK prints the findings as a warning and the synth goes on: kept out of the test's output, checked below.
    const warned = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const findings = templateValidationFindings(app.synth().directory);
    const printed = warned.mock.calls.join('\n');
    warned.mockRestore();
    rmSync(app.outdir, { recursive: true, force: true });
    expect(printed).toMatch(/Template validation found issues/);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^F3012: VisibilityTimeout: 'soon' is not of type 'integer' \(Broken\/Queue\)$/),
        expect.stringMatching(/^F3002: .*'Colour' was unexpected/),
      ]),
    );
  });
});
