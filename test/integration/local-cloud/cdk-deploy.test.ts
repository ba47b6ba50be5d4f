import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { runCdk } from '../../../local-cloud/deploy/cdk-cli';
import { startEmbeddedStack, STACK_NAME, type EmbeddedStack } from '../../../local-cloud/stack';
import {
  createCloudWatchLogsClient,
  createDynamoDbClient,
  createKinesisClient,
  createSqsClient,
} from '../../../shared/aws/clients';
import { waitFor } from '../../../shared/util/wait';
import { cliEnv, findAwsClis, runAwsCli } from '../../support/aws-cli';

/**
 * The customer's workflow against the embedded cloud, with the pinned CDK CLI through AWS_ENDPOINT_URL: the embedded
 * start bootstraps and deploys PipelineStack through the edge's CloudFormation (synthesized once); then orders are
 * executed from the market feed, a function's code is changed and `cdk deploy` runs it, `cdk destroy` removes every
 * resource; a stack whose resource cannot be created ends in ROLLBACK_COMPLETE. The AWS CLI reads what was done.
 */
const cli = findAwsClis()[0];
const cliInstalled = cli !== undefined;
if (!cliInstalled) console.warn('cdk-deploy.test: no `aws` on PATH; the AWS CLI checks are skipped');

describe('cdk bootstrap / deploy / destroy against the embedded cloud', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cdk-deploy-'));
  const env = { ...process.env };
  let stack: EmbeddedStack;
  let events = 0;

  const aws = async (...args: string[]): Promise<unknown> => {
    if (!cli) return undefined;
    const out = (await runAwsCli(cli, stack.edge.endpoint, args, cliEnv())).stdout;
    return out.trim() ? JSON.parse(out) : {};
  };

  beforeAll(async () => {
    stack = await startEmbeddedStack({
      dataDir,
      edgePort: 0,
      feed: { ticksPerSecond: 10, symbols: ['CDK'] },
      onEvents: (r) => (events += r.length),
      log: () => undefined,
    });
  }, 300_000);

  afterAll(async () => {
    await stack?.stop();
    process.env = env;
  }, 60_000);

  it('deploys PipelineStack through CloudFormation, which the AWS CLI shows, and orders are executed', async () => {
    await waitFor('an order event from the deployed pipeline', 60_000, () => events > 0);
    if (!cliInstalled) return;
    const described = (await aws('cloudformation', 'describe-stacks', '--stack-name', STACK_NAME)) as {
      Stacks: { StackStatus: string; Outputs: { OutputKey: string }[] }[];
    };
    expect(described.Stacks[0]?.StackStatus).toBe('CREATE_COMPLETE');
    expect(described.Stacks[0]?.Outputs.map((o) => o.OutputKey)).toContain('CommandsQueueUrl');
    const resources = (await aws('cloudformation', 'list-stack-resources', '--stack-name', STACK_NAME)) as {
      StackResourceSummaries: { LogicalResourceId: string; ResourceStatus: string }[];
    };
    expect(resources.StackResourceSummaries.find((r) => r.LogicalResourceId === 'IngestFunction')?.ResourceStatus).toBe(
      'CREATE_COMPLETE',
    );
    const stackEvents = (await aws('cloudformation', 'describe-stack-events', '--stack-name', STACK_NAME)) as {
      StackEvents: { LogicalResourceId: string; ResourceStatus: string }[];
    };
    const statuses = stackEvents.StackEvents.filter((e) => e.LogicalResourceId === STACK_NAME).map(
      (e) => e.ResourceStatus,
    );
    expect(statuses).toEqual(['CREATE_COMPLETE', 'CREATE_IN_PROGRESS', 'REVIEW_IN_PROGRESS']);
  }, 120_000);

  it('cdk deploy of changed code runs the new code; a changed queue attribute is applied', async () => {
    const app = changedAssembly(join(dataDir, 'cdk.out'));
    await runCdk(['deploy', '--app', app, STACK_NAME, '--require-approval', 'never'], {
      endpoint: stack.edge.endpoint,
      cwd: app,
    });
    const logs = createCloudWatchLogsClient();
    const logGroup = stack.deployment.functions.IngestFunction?.logGroup as string;
    await waitFor(
      'the changed IngestFunction code logging CODE-V2',
      30_000,
      async () =>
        (
          (await logs.send(new FilterLogEventsCommand({ logGroupName: logGroup, filterPattern: '"CODE-V2"' })))
            .events ?? []
        ).length > 0,
    );
    logs.destroy();
    const before = events;
    await waitFor('orders executed after the update', 30_000, () => events > before);
    const sqs = createSqsClient();
    const url = stack.deployment.outputs.ProcessFailureQueueUrl as string;
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout'] }),
    );
    sqs.destroy();
    expect(attrs.Attributes?.VisibilityTimeout).toBe('123');
    const described = (await aws('cloudformation', 'describe-stacks', '--stack-name', STACK_NAME)) as
      { Stacks: { StackStatus: string }[] } | undefined;
    if (described) expect(described.Stacks[0]?.StackStatus).toBe('UPDATE_COMPLETE');
  }, 180_000);

  it('cdk destroy removes every resource', async () => {
    await runCdk(['destroy', '--app', join(dataDir, 'cdk.out'), STACK_NAME, '--force'], {
      endpoint: stack.edge.endpoint,
      cwd: dataDir,
    });
    const sqs = createSqsClient();
    const kinesis = createKinesisClient();
    const dynamodb = createDynamoDbClient();
    const queues = (await sqs.send(new ListQueuesCommand({}))).QueueUrls ?? [];
    const streams = (await kinesis.send(new ListStreamsCommand({}))).StreamNames ?? [];
    const tables = (await dynamodb.send(new ListTablesCommand({}))).TableNames ?? [];
    [sqs, kinesis, dynamodb].forEach((c) => c.destroy());
    expect(queues.filter((q) => q.includes(STACK_NAME))).toEqual([]);
    expect(streams.filter((s) => s.startsWith(STACK_NAME))).toEqual([]);
    expect(tables.filter((t) => t.startsWith(STACK_NAME))).toEqual([]);
    expect(() => stack.runtime).toThrow(/not deployed/);
    if (cliInstalled)
      await expect(aws('cloudformation', 'describe-stacks', '--stack-name', STACK_NAME)).rejects.toThrow(
        /Stack with id PipelineStack does not exist/,
      );
  }, 120_000);

  it('a stack whose resource cannot be created rolls back to ROLLBACK_COMPLETE with the reason in its events', async () => {
    const template = {
      Resources: {
        FirstQueue: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'RollbackFirstQueue' } },
        // DynamoDB refuses a key on an attribute that is not defined.
        BadTable: {
          Type: 'AWS::DynamoDB::Table',
          Properties: {
            TableName: 'RollbackBadTable',
            BillingMode: 'PAY_PER_REQUEST',
            KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'other', AttributeType: 'S' }],
          },
        },
      },
    };
    const { CloudFormationClient, CreateStackCommand, DescribeStacksCommand, DescribeStackEventsCommand } =
      await import('@aws-sdk/client-cloudformation');
    const cfn = new CloudFormationClient({});
    await cfn.send(new CreateStackCommand({ StackName: 'RollbackStack', TemplateBody: JSON.stringify(template) }));
    await waitFor(
      'RollbackStack to reach ROLLBACK_COMPLETE',
      30_000,
      async () =>
        (await cfn.send(new DescribeStacksCommand({ StackName: 'RollbackStack' }))).Stacks?.[0]?.StackStatus ===
        'ROLLBACK_COMPLETE',
    );
    const stackEvents =
      (await cfn.send(new DescribeStackEventsCommand({ StackName: 'RollbackStack' }))).StackEvents ?? [];
    cfn.destroy();
    const failed = stackEvents.find((e) => e.LogicalResourceId === 'BadTable' && e.ResourceStatus === 'CREATE_FAILED');
    expect(failed?.ResourceStatusReason).toMatch(/pk|attribute/i);
    expect(
      stackEvents.some((e) => e.LogicalResourceId === 'FirstQueue' && e.ResourceStatus === 'DELETE_COMPLETE'),
    ).toBe(true);
    expect(stackEvents.map((e) => `${e.LogicalResourceId} ${e.ResourceStatus}`)).toContain(
      'RollbackStack ROLLBACK_IN_PROGRESS',
    );
    const sqs = createSqsClient();
    const queues = (await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'RollbackFirstQueue' }))).QueueUrls ?? [];
    sqs.destroy();
    expect(queues).toEqual([]);
  }, 60_000);
});

/**
 * A copy of the synthesized assembly as a code change would synthesize it: IngestFunction's bundle logs CODE-V2 on
 * every invocation (its asset hash, folder and S3 key follow the new content, as the CDK computes them), and the
 * process-failure queue's visibility timeout is 123 s. The repository is not touched.
 */
function changedAssembly(outdir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'cdk-deploy-changed-'));
  cpSync(outdir, copy, { recursive: true });
  const templateFile = join(copy, `${STACK_NAME}.template.json`);
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as {
    Resources: Record<string, { Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
  };
  const ingest = template.Resources.IngestFunction;
  const oldHash = String(ingest?.Metadata?.['aws:asset:path']).replace(/^asset\./, '');
  const bundle = join(copy, `asset.${oldHash}`, 'index.js');
  writeFileSync(
    bundle,
    `${readFileSync(bundle, 'utf8')}\n;{ const v1 = module.exports.handler; module.exports = { ...module.exports, handler: async (...a) => { console.log('CODE-V2'); return v1(...a); } }; }\n`,
  );
  const newHash = createHash('sha256').update(readFileSync(bundle)).digest('hex');
  renameSync(join(copy, `asset.${oldHash}`), join(copy, `asset.${newHash}`));
  const failureQueue = template.Resources.ProcessFailureQueue;
  if (!failureQueue) throw new Error('the template has no ProcessFailureQueue');
  failureQueue.Properties.VisibilityTimeout = 123;
  const templateText = JSON.stringify(template).replaceAll(oldHash, newHash);
  writeFileSync(templateFile, templateText);
  // The template is an asset too, keyed by its own hash: a changed template gets a new key, or the CLI would
  // find the old one already uploaded and deploy that.
  const assetsFile = join(copy, `${STACK_NAME}.assets.json`);
  const assets = JSON.parse(readFileSync(assetsFile, 'utf8')) as {
    files: Record<string, { source: { path: string } }>;
  };
  const oldTemplateHash = Object.keys(assets.files).find((k) =>
    assets.files[k]?.source.path.endsWith('.template.json'),
  );
  if (!oldTemplateHash) throw new Error('the asset manifest has no template asset');
  const newTemplateHash = createHash('sha256').update(templateText).digest('hex');
  for (const f of readdirSync(copy).filter((n) => n.endsWith('.json') && n !== `${STACK_NAME}.template.json`)) {
    const text = readFileSync(join(copy, f), 'utf8');
    writeFileSync(join(copy, f), text.replaceAll(oldHash, newHash).replaceAll(oldTemplateHash, newTemplateHash));
  }
  return copy;
}
