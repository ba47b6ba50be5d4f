import { memberList, required, type QueryService } from '../edge/query-service';
import { QueryError, type XmlValue } from '../edge/xml';
import type { S3Store } from '../s3/store';
import type { ChangeSet, CloudFormationEngine, Stack, StackInput } from './engine';
import { parseTemplate } from './template';

/** CloudFormation's own limit for a TemplateBody; larger templates come by TemplateURL. */
const MAX_TEMPLATE_BODY = 51_200;
const members = <T>(items: T[]) => ({ member: items as XmlValue[] });

/** The CloudFormation query API (what the CDK CLI and the AWS CLI call) over the engine. */
export function cloudFormationService(engine: CloudFormationEngine, s3: S3Store): QueryService {
  return {
    xmlns: 'http://cloudformation.amazonaws.com/doc/2010-05-15/',
    maxRequestBytes: 1024 * 1024,
    handle: (action, params) => Promise.resolve(handle(engine, s3, action, params)),
  };
}

function handle(
  engine: CloudFormationEngine,
  s3: S3Store,
  action: string,
  params: URLSearchParams,
): Record<string, XmlValue> | undefined {
  const stackName = () => required(params, 'StackName');
  switch (action) {
    case 'CreateChangeSet': {
      const type = params.get('ChangeSetType') ?? 'UPDATE';
      if (type !== 'CREATE' && type !== 'UPDATE')
        throw new QueryError('ValidationError', `ChangeSetType ${type} is not emulated locally (CREATE, UPDATE are)`);
      const cs = engine.createChangeSet(stackInput(params, s3, engine), required(params, 'ChangeSetName'), type);
      return { Id: cs.ChangeSetId, StackId: cs.StackId };
    }
    case 'DescribeChangeSet':
      return describeChangeSet(engine.changeSet(required(params, 'ChangeSetName'), params.get('StackName')));
    case 'ListChangeSets':
      return { Summaries: members(engine.changeSetsOf(stackName()).map((c) => changeSetSummary(c))) };
    case 'ExecuteChangeSet':
      engine.executeChangeSet(required(params, 'ChangeSetName'), params.get('StackName'));
      return {};
    case 'DeleteChangeSet':
      engine.deleteChangeSet(required(params, 'ChangeSetName'), params.get('StackName'));
      return {};
    case 'CreateStack':
      return { StackId: engine.createStack(stackInput(params, s3, engine)).StackId };
    case 'UpdateStack':
      return { StackId: engine.updateStack(stackInput(params, s3, engine)).StackId };
    case 'DeleteStack':
      engine.deleteStack(stackName());
      return undefined;
    case 'DescribeStacks': {
      const name = params.get('StackName');
      const stacks = name
        ? [engine.stack(name)]
        : engine.allStacks().filter((s) => s.StackStatus !== 'DELETE_COMPLETE');
      return { Stacks: members(stacks.map(describeStack)) };
    }
    case 'DescribeStackEvents':
      return { StackEvents: members([...engine.stack(stackName()).events].reverse()) };
    case 'DescribeStackResources':
    case 'DescribeStackResource':
    case 'ListStackResources':
      return stackResources(engine.stack(stackName()), action, params.get('LogicalResourceId'));
    case 'GetTemplate': {
      const csName = params.get('ChangeSetName');
      const body = csName
        ? engine.changeSet(csName, params.get('StackName')).TemplateBody
        : engine.stack(stackName()).TemplateBody;
      return { TemplateBody: body, StagesAvailable: members(['Original', 'Processed']) };
    }
    case 'GetTemplateSummary':
      return templateSummary(params, s3, engine);
    case 'ListStacks': {
      const filter = memberList(params, 'StackStatusFilter').map((m) => m['']);
      const stacks = engine.allStacks().filter((s) => filter.length === 0 || filter.includes(s.StackStatus));
      return { StackSummaries: members([...stacks].reverse().map(stackSummary)) };
    }
    default:
      throw new QueryError(
        'InvalidAction',
        `CloudFormation action ${action} is not emulated locally (docs/local-cloud.md lists the ones that are)`,
      );
  }
}

/** TemplateBody, or TemplateURL read from the local S3 (path-style `…/bucket/key` or `bucket.s3…/key`). */
function templateBody(params: URLSearchParams, s3: S3Store): string | undefined {
  const body = params.get('TemplateBody');
  if (body !== null) {
    if (Buffer.byteLength(body) > MAX_TEMPLATE_BODY) {
      throw new QueryError(
        'ValidationError',
        `1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to ${MAX_TEMPLATE_BODY}`,
      );
    }
    return body;
  }
  const url = params.get('TemplateURL');
  if (url === null) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new QueryError('ValidationError', 'TemplateURL must be a supported URL.');
  }
  const path = parsed.pathname.split('/').slice(1).map(decodeURIComponent);
  const virtual =
    /^(.+?)\.s3[.-]/.exec(parsed.hostname)?.[1] ??
    (parsed.hostname.endsWith('.localhost') ? parsed.hostname.slice(0, -10) : undefined);
  const [bucket, key] = virtual ? [virtual, path.join('/')] : [path[0] ?? '', path.slice(1).join('/')];
  try {
    return s3.get(bucket, key).body.toString('utf8');
  } catch (err) {
    throw new QueryError('ValidationError', `S3 error: cannot read the template at ${url}: ${(err as Error).message}`);
  }
}

function stackInput(params: URLSearchParams, s3: S3Store, engine: CloudFormationEngine): StackInput {
  const stackName = required(params, 'StackName');
  let body = templateBody(params, s3);
  if (body === undefined) {
    if (params.get('UsePreviousTemplate') !== 'true') {
      throw new QueryError('ValidationError', 'Either Template URL or Template Body must be specified.');
    }
    body = engine.stack(stackName).TemplateBody;
  }
  return {
    stackName,
    templateBody: body,
    parameters: memberList(params, 'Parameters').map((p) => ({
      ParameterKey: p.ParameterKey ?? '',
      ...(p.ParameterValue !== undefined ? { ParameterValue: p.ParameterValue } : {}),
      ...(p.UsePreviousValue === 'true' ? { UsePreviousValue: true } : {}),
    })),
    capabilities: memberList(params, 'Capabilities').map((m) => m[''] ?? ''),
    tags: memberList(params, 'Tags').map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' })),
    ...(params.get('Description') ? { description: params.get('Description') as string } : {}),
  };
}

function describeStack(s: Stack): Record<string, XmlValue> {
  return {
    StackId: s.StackId,
    StackName: s.StackName,
    ChangeSetId: undefined,
    Description: s.Description,
    Parameters: members(s.Parameters),
    CreationTime: s.CreationTime,
    LastUpdatedTime: s.LastUpdatedTime,
    DeletionTime: s.DeletionTime,
    StackStatus: s.StackStatus,
    StackStatusReason: s.StackStatusReason,
    DisableRollback: false,
    Capabilities: members(s.Capabilities),
    Outputs: members(s.Outputs),
    Tags: members(s.Tags),
    EnableTerminationProtection: false,
    DriftInformation: { StackDriftStatus: 'NOT_CHECKED' },
  };
}

function stackSummary(s: Stack): Record<string, XmlValue> {
  return {
    StackId: s.StackId,
    StackName: s.StackName,
    TemplateDescription: s.Description,
    CreationTime: s.CreationTime,
    LastUpdatedTime: s.LastUpdatedTime,
    DeletionTime: s.DeletionTime,
    StackStatus: s.StackStatus,
    StackStatusReason: s.StackStatusReason,
  };
}

function stackResources(s: Stack, action: string, logicalId: string | null): Record<string, XmlValue> {
  const all = Object.values(s.resources).filter((r) => !logicalId || r.LogicalResourceId === logicalId);
  if (action === 'DescribeStackResource' && all.length === 0) {
    throw new QueryError('ValidationError', `Resource ${logicalId ?? ''} does not exist for stack ${s.StackName}`);
  }
  const row = (r: (typeof all)[number], withStack: boolean) => ({
    ...(withStack ? { StackName: s.StackName, StackId: s.StackId } : {}),
    LogicalResourceId: r.LogicalResourceId,
    PhysicalResourceId: r.PhysicalResourceId,
    ResourceType: r.ResourceType,
    [withStack ? 'Timestamp' : 'LastUpdatedTimestamp']: r.Timestamp,
    ResourceStatus: r.ResourceStatus,
    ResourceStatusReason: r.ResourceStatusReason,
    DriftInformation: { StackResourceDriftStatus: 'NOT_CHECKED' },
  });
  if (action === 'ListStackResources') return { StackResourceSummaries: members(all.map((r) => row(r, false))) };
  if (action === 'DescribeStackResource')
    return { StackResourceDetail: { ...row(all[0] as (typeof all)[number], true) } };
  return { StackResources: members(all.map((r) => row(r, true))) };
}

function changeSetSummary(c: ChangeSet): Record<string, XmlValue> {
  return {
    StackId: c.StackId,
    StackName: c.StackName,
    ChangeSetId: c.ChangeSetId,
    ChangeSetName: c.ChangeSetName,
    ExecutionStatus: c.ExecutionStatus,
    Status: c.Status,
    StatusReason: c.StatusReason,
    CreationTime: c.CreationTime,
    Description: c.Description,
  };
}

function describeChangeSet(c: ChangeSet): Record<string, XmlValue> {
  return {
    ...changeSetSummary(c),
    Parameters: members(c.Parameters),
    Capabilities: members(c.Capabilities),
    Tags: members(c.Tags),
    Changes: members(
      c.Changes.map((ch) => ({
        Type: 'Resource',
        ResourceChange: {
          Action: ch.Action,
          LogicalResourceId: ch.LogicalResourceId,
          PhysicalResourceId: ch.PhysicalResourceId,
          ResourceType: ch.ResourceType,
          ...(ch.Action === 'Modify' ? { Replacement: 'False', Scope: members(['Properties']) } : {}),
        },
      })),
    ),
  };
}

function templateSummary(params: URLSearchParams, s3: S3Store, engine: CloudFormationEngine): Record<string, XmlValue> {
  const name = params.get('StackName');
  const body = templateBody(params, s3) ?? (name ? engine.stack(name).TemplateBody : undefined);
  if (body === undefined)
    throw new QueryError('ValidationError', 'Either Template URL or Template Body must be specified.');
  const t = parseTemplate(body);
  const types = [...new Set(Object.values(t.Resources).map((r) => r.Type))];
  const iam = types.some((x) => x.startsWith('AWS::IAM::'));
  return {
    Parameters: members(
      Object.entries(t.Parameters ?? {}).map(([k, p]) => ({
        ParameterKey: k,
        DefaultValue: p.Default === undefined ? undefined : String(p.Default),
        ParameterType: p.Type,
        NoEcho: String(p.NoEcho ?? false) === 'true',
        Description: p.Description,
      })),
    ),
    Description: t.Description,
    ...(iam
      ? {
          Capabilities: members(['CAPABILITY_NAMED_IAM']),
          CapabilitiesReason: 'The following resource(s) require capabilities: [AWS::IAM::Role]',
        }
      : {}),
    ResourceTypes: members(types),
    Version: '2010-09-09',
    ResourceIdentifierSummaries: members([]),
  };
}
