import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRules, evaluateConditions, parseTemplate } from '../../../local-cloud/cloudformation/template';

const BOOTSTRAP = join(__dirname, '../../../node_modules/aws-cdk/lib/api/bootstrap/bootstrap-template.yaml');

describe('CloudFormation template evaluation', () => {
  it('parses YAML short forms into their long forms', () => {
    const t = parseTemplate(
      'Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub "${AWS::StackName}-q"\n      Tags: [ !GetAtt Other.Arn ]\n',
    );
    expect(t.Resources.Q?.Properties).toEqual({
      QueueName: { 'Fn::Sub': '${AWS::StackName}-q' },
      Tags: [{ 'Fn::GetAtt': ['Other', 'Arn'] }],
    });
  });

  it('refuses a template without resources, as CloudFormation does', () => {
    expect(() => parseTemplate('{"Resources":{}}')).toThrow(/At least one Resources member must be defined/);
  });

  it("evaluates the CDK bootstrap template's conditions from its parameter defaults", () => {
    const template = parseTemplate(readFileSync(BOOTSTRAP, 'utf8'));
    const refs: Record<string, unknown> = { 'AWS::Region': 'us-east-1', 'AWS::AccountId': '000000000000' };
    for (const [k, p] of Object.entries(template.Parameters ?? {})) {
      const value = String(p.Default ?? '');
      refs[k] = p.Type === 'CommaDelimitedList' ? value.split(',') : value;
    }
    const conditions = evaluateConditions({ refs, template });
    expect(conditions).toMatchObject({
      HasTrustedAccounts: false,
      CreateNewKey: true, // FileAssetsBucketKmsKeyId defaults to '' (the CLI passes AWS_MANAGED_KEY)
      UseAwsManagedKey: false,
      UsePublicAccessBlockConfiguration: true,
    });
  });

  it('fails a rule with its AssertDescription, as a too-old bootstrap version does', () => {
    const template = parseTemplate(
      JSON.stringify({
        Parameters: { BootstrapVersion: { Type: 'AWS::SSM::Parameter::Value<String>' } },
        Rules: {
          CheckBootstrapVersion: {
            Assertions: [
              {
                Assert: { 'Fn::Not': [{ 'Fn::Contains': [['1', '2', '3', '4', '5'], { Ref: 'BootstrapVersion' }] }] },
                AssertDescription: 'CDK bootstrap stack version 6 required.',
              },
            ],
          },
        },
        Resources: { Q: { Type: 'AWS::SQS::Queue' } },
      }),
    );
    expect(() => checkRules({ refs: { BootstrapVersion: '33' }, template }, {})).not.toThrow();
    expect(() => checkRules({ refs: { BootstrapVersion: '5' }, template }, {})).toThrow(
      'CDK bootstrap stack version 6 required.',
    );
  });
});
