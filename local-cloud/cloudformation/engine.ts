import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteResource, deployTemplate, type Deployment, type ResourceProgress } from '../deploy/deploy';
import type { CfnTemplate } from '../deploy/synth';
import { QueryError } from '../edge/xml';
import type { S3Store } from '../s3/store';
import type { SsmParameterStore } from '../ssm';
import type { CognitoIdp } from '../cognito';
import { StateFile } from '../state-file';
import { LOCAL_ACCOUNT } from '../sts';
import { checkRules, evaluateConditions, parseTemplate } from './template';

export interface StackEvent {
  EventId: string;
  StackId: string;
  StackName: string;
  LogicalResourceId: string;
  PhysicalResourceId: string;
  ResourceType: string;
  Timestamp: string;
  ResourceStatus: string;
  ResourceStatusReason?: string;
}

export interface StackResource {
  LogicalResourceId: string;
  PhysicalResourceId: string;
  ResourceType: string;
  ResourceStatus: string;
  ResourceStatusReason?: string;
  Timestamp: string;
  /** The resource's template entry at its last deploy: a changed one is updated, an equal one left alone. */
  definition: string;
  /** DeletionPolicy: Retain — a delete leaves it in place (DELETE_SKIPPED). */
  retain?: boolean;
}

export interface StackParameter {
  ParameterKey: string;
  ParameterValue: string;
  ResolvedValue?: string;
}

export interface Stack {
  StackId: string;
  StackName: string;
  StackStatus: string;
  StackStatusReason?: string;
  CreationTime: string;
  LastUpdatedTime?: string;
  DeletionTime?: string;
  Description?: string;
  TemplateBody: string;
  Parameters: StackParameter[];
  Outputs: { OutputKey: string; OutputValue: string; Description?: string }[];
  Capabilities: string[];
  Tags: { Key: string; Value: string }[];
  resources: Record<string, StackResource>;
  events: StackEvent[];
}

export interface ChangeSet {
  ChangeSetId: string;
  ChangeSetName: string;
  StackId: string;
  StackName: string;
  ChangeSetType: 'CREATE' | 'UPDATE';
  Status: string;
  StatusReason?: string;
  ExecutionStatus: string;
  CreationTime: string;
  Description?: string;
  TemplateBody: string;
  Parameters: StackParameter[];
  Capabilities: string[];
  Tags: { Key: string; Value: string }[];
  Changes: {
    LogicalResourceId: string;
    PhysicalResourceId?: string;
    ResourceType: string;
    Action: 'Add' | 'Modify' | 'Remove';
  }[];
}

/** A stack operation's input: the template and parameters as given by the API. */
export interface StackInput {
  stackName: string;
  templateBody: string;
  parameters: { ParameterKey: string; ParameterValue?: string; UsePreviousValue?: boolean }[];
  capabilities: string[];
  tags: { Key: string; Value: string }[];
  description?: string;
}

export interface EngineOptions {
  dataDir?: string;
  /** Where the provisioning SDK clients send their calls: the edge itself. */
  endpoint: () => string;
  s3: S3Store;
  ssm: SsmParameterStore;
  cognito: CognitoIdp;
  /**
   * Told when a stack's functions, mappings and schedules change (a deploy finished: the deployment) or go (a delete
   * starts: undefined); the stack's operation completes only after it returns, so the next invocation runs the new code.
   */
  onStackChange?: (stackName: string, deployment: Deployment | undefined) => Promise<void>;
  log?: (line: string) => void;
}

const TERMINAL = /(_COMPLETE|_FAILED)$/;
const now = () => new Date().toISOString();
/**
 * A resource's progress reaches the state file with the stack's next status change or within this long. The
 * state is one JSON file holding every template and event, and saving it on each resource event wrote it ~430
 * times for one PipelineStack creation — 3 s of the edge process's CPU, on the deploy's critical path
 * (docs/performance.md). A crash in between loses only events of an operation that was not finished anyway.
 */
const RESOURCE_SAVE_MS = 250;

/**
 * CloudFormation's stacks, change sets, events and resources, behind the query API (api.ts). Operations run in
 * the background as on AWS, moving the stack and each resource through CloudFormation's states; resources are
 * provisioned by the deploy-from-template engine (deploy/deploy.ts). State is kept in `<dataDir>/cloudformation.json`.
 */
export class CloudFormationEngine {
  private readonly file: StateFile<{ stacks: Stack[]; changeSets: ChangeSet[] }>;
  private readonly stacks: Stack[];
  private readonly changeSets: ChangeSet[];
  private readonly running = new Set<Promise<void>>();
  /** Where function zips are unpacked: beside the state, or a temporary folder for an in-memory engine. */
  private readonly codeDir: string;
  /** A save of resource progress not yet written (saveSoon). */
  private pendingSave: NodeJS.Timeout | undefined;

  constructor(private readonly opts: EngineOptions) {
    this.file = new StateFile(opts.dataDir && join(opts.dataDir, 'cloudformation.json'), () => ({
      stacks: [],
      changeSets: [],
    }));
    const state = this.file.load();
    this.stacks = state.stacks;
    this.changeSets = state.changeSets;
    this.codeDir = opts.dataDir ? join(opts.dataDir, 'lambda-code') : mkdtempSync(join(tmpdir(), 'cfn-lambda-code-'));
  }

  /** Waits for the operations under way (the edge stops only after them). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.pendingSave) this.save();
  }

  /** The live stack of that name or id (a deleted one only by its id), or AWS's ValidationError. */
  stack(nameOrId: string): Stack {
    const s = this.find(nameOrId);
    if (!s) throw new QueryError('ValidationError', `Stack with id ${nameOrId} does not exist`);
    return s;
  }

  find(nameOrId: string): Stack | undefined {
    return nameOrId.startsWith('arn:')
      ? this.stacks.find((s) => s.StackId === nameOrId)
      : this.stacks.find((s) => s.StackName === nameOrId && s.StackStatus !== 'DELETE_COMPLETE');
  }

  allStacks(): Stack[] {
    return this.stacks;
  }

  changeSet(name: string, stackName: string | null): ChangeSet {
    const cs = this.findChangeSet(name, stackName);
    if (!cs) throw new QueryError('ChangeSetNotFound', `ChangeSet [${name}] does not exist`, 404);
    return cs;
  }

  private findChangeSet(name: string, stackName: string | null): ChangeSet | undefined {
    return name.startsWith('arn:')
      ? this.changeSets.find((c) => c.ChangeSetId === name)
      : this.changeSets.find(
          (c) =>
            c.ChangeSetName === name && stackName !== null && (c.StackName === stackName || c.StackId === stackName),
        );
  }

  changeSetsOf(stackName: string): ChangeSet[] {
    const s = this.stack(stackName);
    return this.changeSets.filter((c) => c.StackId === s.StackId);
  }

  createChangeSet(input: StackInput, name: string, type: 'CREATE' | 'UPDATE'): ChangeSet {
    if (!/^[a-zA-Z][-a-zA-Z0-9]{0,127}$/.test(name)) {
      throw new QueryError(
        'ValidationError',
        `ChangeSetName ${name} must match [a-zA-Z][-a-zA-Z0-9]* and be at most 128 characters`,
      );
    }
    let stack = this.find(input.stackName);
    if (type === 'CREATE' && stack && stack.StackStatus !== 'REVIEW_IN_PROGRESS') {
      throw new QueryError(
        'AlreadyExistsException',
        `Stack [${input.stackName}] already exists and cannot be created again with the changeSet [${name}].`,
      );
    }
    if (type === 'UPDATE' && (!stack || stack.StackStatus === 'REVIEW_IN_PROGRESS')) {
      throw new QueryError('ValidationError', `Stack [${input.stackName}] does not exist`);
    }
    // Validated before a new stack is recorded: a bad template or parameter leaves nothing behind.
    const template = parseTemplate(input.templateBody);
    const parameters = this.resolveParameters(template, input, type === 'UPDATE' ? stack : undefined);
    stack ??= this.newStack(input, 'REVIEW_IN_PROGRESS');
    const changes = this.changesOf(stack, template);
    const same =
      type === 'UPDATE' && changes.length === 0 && JSON.stringify(parameters) === JSON.stringify(stack.Parameters);
    const cs: ChangeSet = {
      ChangeSetId: `arn:aws:cloudformation:${this.region(stack)}:${LOCAL_ACCOUNT}:changeSet/${name}/${randomUUID()}`,
      ChangeSetName: name,
      StackId: stack.StackId,
      StackName: stack.StackName,
      ChangeSetType: type,
      Status: same ? 'FAILED' : 'CREATE_COMPLETE',
      ...(same
        ? {
            StatusReason:
              "The submitted information didn't contain changes. Submit different information to create a change set.",
          }
        : {}),
      ExecutionStatus: same ? 'UNAVAILABLE' : 'AVAILABLE',
      CreationTime: now(),
      ...(input.description ? { Description: input.description } : {}),
      TemplateBody: input.templateBody,
      Parameters: parameters,
      Capabilities: input.capabilities,
      Tags: input.tags,
      Changes: changes,
    };
    this.changeSets.push(cs);
    this.save();
    return cs;
  }

  /** Deleting a change set that is not there succeeds, as on AWS (the CDK CLI deletes its old one before each deploy). */
  deleteChangeSet(name: string, stackName: string | null): void {
    if (!name.startsWith('arn:') && stackName !== null) this.stack(stackName);
    const cs = this.findChangeSet(name, stackName);
    if (!cs) return;
    if (cs.ExecutionStatus === 'EXECUTE_IN_PROGRESS') {
      throw new QueryError(
        'InvalidChangeSetStatus',
        `ChangeSet [${cs.ChangeSetId}] cannot be deleted while it is being executed`,
      );
    }
    this.changeSets.splice(this.changeSets.indexOf(cs), 1);
    this.save();
  }

  executeChangeSet(name: string, stackName: string | null): void {
    const cs = this.changeSet(name, stackName);
    if (cs.ExecutionStatus !== 'AVAILABLE') {
      throw new QueryError(
        'InvalidChangeSetStatus',
        `ChangeSet [${cs.ChangeSetId}] cannot be executed in its current execution status of [${cs.ExecutionStatus}]`,
      );
    }
    const stack = this.stack(cs.StackId);
    this.assertIdle(stack);
    cs.ExecutionStatus = 'EXECUTE_IN_PROGRESS';
    // Executing one change set makes the stack's others stale, as on AWS.
    for (const other of this.changeSets)
      if (other.StackId === stack.StackId && other !== cs) other.ExecutionStatus = 'OBSOLETE';
    this.save();
    this.background(async () => {
      await this.deploy(stack, cs.ChangeSetType === 'CREATE' ? 'CREATE' : 'UPDATE', cs);
      // After an execution CloudFormation removes every change set of the stack.
      for (let i = this.changeSets.length - 1; i >= 0; i--) {
        if (this.changeSets[i]?.StackId === stack.StackId) this.changeSets.splice(i, 1);
      }
      this.save();
    });
  }

  createStack(input: StackInput): Stack {
    const existing = this.find(input.stackName);
    if (existing) throw new QueryError('AlreadyExistsException', `Stack [${input.stackName}] already exists`);
    const cs = this.createChangeSet(input, `create-${randomUUID().slice(0, 8)}`, 'CREATE');
    this.changeSets.splice(this.changeSets.indexOf(cs), 1);
    const stack = this.stack(cs.StackId);
    this.background(() => this.deploy(stack, 'CREATE', cs));
    return stack;
  }

  updateStack(input: StackInput): Stack {
    const stack = this.stack(input.stackName);
    this.assertIdle(stack);
    const cs = this.createChangeSet(input, `update-${randomUUID().slice(0, 8)}`, 'UPDATE');
    this.changeSets.splice(this.changeSets.indexOf(cs), 1);
    if (cs.Status === 'FAILED') throw new QueryError('ValidationError', 'No updates are to be performed.');
    this.background(() => this.deploy(stack, 'UPDATE', cs));
    return stack;
  }

  deleteStack(nameOrId: string): void {
    const stack = this.find(nameOrId);
    if (!stack || stack.StackStatus === 'DELETE_COMPLETE' || stack.StackStatus === 'DELETE_IN_PROGRESS') return;
    this.assertIdle(stack);
    this.background(() => this.delete(stack));
  }

  private newStack(input: StackInput, status: string): Stack {
    const region = 'us-east-1';
    const stack: Stack = {
      StackId: `arn:aws:cloudformation:${region}:${LOCAL_ACCOUNT}:stack/${input.stackName}/${randomUUID()}`,
      StackName: input.stackName,
      StackStatus: status,
      CreationTime: now(),
      TemplateBody: '{"Resources":{}}',
      Parameters: [],
      Outputs: [],
      Capabilities: input.capabilities,
      Tags: input.tags,
      resources: {},
      events: [],
    };
    if (!/^[a-zA-Z][-a-zA-Z0-9]{0,127}$/.test(input.stackName)) {
      throw new QueryError(
        'ValidationError',
        `1 validation error detected: Value '${input.stackName}' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*`,
      );
    }
    this.stacks.push(stack);
    this.event(stack, status, 'User Initiated');
    return stack;
  }

  private region(stack: Stack): string {
    return stack.StackId.split(':')[3] ?? 'us-east-1';
  }

  private assertIdle(stack: Stack): void {
    if (!TERMINAL.test(stack.StackStatus) && stack.StackStatus !== 'REVIEW_IN_PROGRESS') {
      throw new QueryError(
        'ValidationError',
        `Stack:${stack.StackId} is in ${stack.StackStatus} state and can not be updated.`,
      );
    }
  }

  /** The template's parameters: given, previous (UsePreviousValue) or default; SSM-typed ones read from Parameter Store. */
  private resolveParameters(template: CfnTemplate, input: StackInput, previous: Stack | undefined): StackParameter[] {
    const declared = template.Parameters ?? {};
    const unknown = input.parameters.filter((p) => !(p.ParameterKey in declared)).map((p) => p.ParameterKey);
    if (unknown.length > 0)
      throw new QueryError('ValidationError', `Parameters: [${unknown.join(', ')}] do not exist in the template`);
    const missing: string[] = [];
    const out: StackParameter[] = [];
    for (const [key, def] of Object.entries(declared)) {
      const given = input.parameters.find((p) => p.ParameterKey === key);
      const value = given?.UsePreviousValue
        ? previous?.Parameters.find((p) => p.ParameterKey === key)?.ParameterValue
        : (given?.ParameterValue ?? (def.Default === undefined ? undefined : String(def.Default)));
      if (value === undefined) {
        missing.push(key);
        continue;
      }
      if (def.AllowedValues && !def.AllowedValues.map(String).includes(value)) {
        throw new QueryError('ValidationError', `Parameter '${key}' must be one of AllowedValues`);
      }
      const param: StackParameter = { ParameterKey: key, ParameterValue: value };
      if (def.Type.startsWith('AWS::SSM::Parameter::Value<')) {
        const stored = this.opts.ssm.get(value);
        if (!stored)
          throw new QueryError(
            'ValidationError',
            `Unable to fetch parameters [${value}] from parameter store for this account.`,
          );
        param.ResolvedValue = stored.Value;
      }
      out.push(param);
    }
    if (missing.length > 0)
      throw new QueryError('ValidationError', `Parameters: [${missing.join(', ')}] must have values`);
    const refs = this.refs(template, out, this.find(input.stackName));
    checkRules({ refs, template }, evaluateConditions({ refs, template }));
    return out;
  }

  /** Ref values: pseudo parameters, and the parameters (list-typed ones as lists, as CloudFormation gives them). */
  private refs(template: CfnTemplate, params: StackParameter[], stack: Stack | undefined): Record<string, unknown> {
    const region = stack ? this.region(stack) : 'us-east-1';
    return {
      'AWS::Region': region,
      'AWS::AccountId': LOCAL_ACCOUNT,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stack?.StackName ?? '',
      'AWS::StackId': stack?.StackId ?? '',
      ...parameterValues(template, params),
    };
  }

  /** What a deploy of `template` would add, modify and remove, compared with each resource's last deployed entry. */
  private changesOf(stack: Stack, template: CfnTemplate): ChangeSet['Changes'] {
    const changes: ChangeSet['Changes'] = [];
    for (const [id, r] of Object.entries(template.Resources)) {
      const old = stack.resources[id];
      if (!old) changes.push({ LogicalResourceId: id, ResourceType: r.Type, Action: 'Add' });
      else if (old.definition !== JSON.stringify(r)) {
        changes.push({
          LogicalResourceId: id,
          PhysicalResourceId: old.PhysicalResourceId,
          ResourceType: r.Type,
          Action: 'Modify',
        });
      }
    }
    for (const [id, old] of Object.entries(stack.resources)) {
      if (!(id in template.Resources)) {
        changes.push({
          LogicalResourceId: id,
          PhysicalResourceId: old.PhysicalResourceId,
          ResourceType: old.ResourceType,
          Action: 'Remove',
        });
      }
    }
    return changes;
  }

  private background(op: () => Promise<void>): void {
    const p = op()
      .catch((err: unknown) => this.opts.log?.(`cloudformation: ${(err as Error).stack ?? String(err)}`))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  /**
   * Creates or updates the stack from the change set: CREATE_IN_PROGRESS → CREATE_COMPLETE, or on a failed resource
   * ROLLBACK_IN_PROGRESS (what was created is deleted) → ROLLBACK_COMPLETE; UPDATE_IN_PROGRESS →
   * UPDATE_COMPLETE_CLEANUP_IN_PROGRESS (removed resources deleted) → UPDATE_COMPLETE, or on failure the previous
   * template deployed again (UPDATE_ROLLBACK_IN_PROGRESS → UPDATE_ROLLBACK_COMPLETE).
   */
  private async deploy(stack: Stack, kind: 'CREATE' | 'UPDATE', cs: ChangeSet): Promise<void> {
    const previous = { body: stack.TemplateBody, parameters: stack.Parameters, resources: { ...stack.resources } };
    this.setStatus(stack, `${kind}_IN_PROGRESS`, 'User Initiated');
    Object.assign(stack, {
      Capabilities: cs.Capabilities,
      Tags: cs.Tags,
      ...(kind === 'UPDATE' ? { LastUpdatedTime: now() } : {}),
    });
    try {
      await this.provision(stack, cs.TemplateBody, cs.Parameters, kind);
      if (kind === 'UPDATE') {
        this.setStatus(stack, 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS');
        // Parsed once: parsing PipelineStack's template for each of its 213 resources took 23 s of every update.
        const kept = parseTemplate(cs.TemplateBody).Resources;
        await this.deleteResources(stack, (id) => !(id in kept));
      }
      this.setStatus(stack, `${kind}_COMPLETE`);
    } catch (err) {
      const failed = Object.values(stack.resources)
        .filter((r) => r.ResourceStatus.endsWith('_FAILED'))
        .map((r) => r.LogicalResourceId);
      const reason =
        failed.length > 0
          ? `The following resource(s) failed to ${kind.toLowerCase()}: [${failed.join(', ')}]. ${kind === 'CREATE' ? 'Rollback requested by user.' : ''}`.trim()
          : (err as Error).message;
      if (kind === 'CREATE') {
        this.setStatus(stack, 'ROLLBACK_IN_PROGRESS', reason);
        try {
          await this.opts.onStackChange?.(stack.StackName, undefined);
          await this.deleteResources(stack, () => true);
          this.setStatus(stack, 'ROLLBACK_COMPLETE');
        } catch (e) {
          this.setStatus(stack, 'ROLLBACK_FAILED', (e as Error).message);
        }
      } else {
        this.setStatus(stack, 'UPDATE_ROLLBACK_IN_PROGRESS', reason);
        const added = (id: string) => !(id in previous.resources);
        await this.deleteResources(stack, added).catch(() => undefined);
        try {
          await this.provision(stack, previous.body, previous.parameters, 'UPDATE');
          this.setStatus(stack, 'UPDATE_ROLLBACK_COMPLETE');
        } catch (e) {
          this.setStatus(stack, 'UPDATE_ROLLBACK_FAILED', (e as Error).message);
        }
      }
    }
  }

  /**
   * Provisions every stack that is deployed again as it stands (no state change, no events for unchanged
   * resources): after a restart on the same data dir the emulators that keep nothing (fauxqs's queues) get their
   * resources back, and the runtime its functions, before anything else is deployed.
   */
  async restore(): Promise<void> {
    for (const stack of this.stacks) {
      if (!/^(CREATE|UPDATE)_COMPLETE$|^UPDATE_ROLLBACK_COMPLETE$/.test(stack.StackStatus)) continue;
      await this.provision(stack, stack.TemplateBody, stack.Parameters, 'UPDATE');
    }
  }

  /** Provisions a template onto the stack, writing each resource's events; publishes the result to the runtime. */
  private async provision(
    stack: Stack,
    body: string,
    parameters: StackParameter[],
    kind: 'CREATE' | 'UPDATE',
  ): Promise<void> {
    const template = parseTemplate(body);
    const refs = this.refs(template, parameters, stack);
    const conditions = evaluateConditions({ refs, template });
    const onResource = (p: ResourceProgress) => this.onResource(stack, template, p);
    const deployment = await deployTemplate({
      outdir: this.codeDir,
      stack: { stackName: stack.StackName, templateFile: '', template },
      region: this.region(stack),
      parameters: parameterValues(template, parameters),
      conditions,
      stackId: stack.StackId,
      endpoint: this.opts.endpoint(),
      s3: this.opts.s3,
      ssm: this.opts.ssm,
      cognito: this.opts.cognito,
      codeDir: this.codeDir,
      onResource,
    });
    stack.TemplateBody = body;
    stack.Parameters = parameters;
    stack.Description = template.Description;
    stack.Outputs = Object.entries(deployment.outputs).map(([OutputKey, OutputValue]) => ({
      OutputKey,
      OutputValue,
      ...(template.Outputs?.[OutputKey]?.Description ? { Description: template.Outputs[OutputKey].Description } : {}),
    }));
    this.save();
    void kind;
    await this.opts.onStackChange?.(stack.StackName, deployment);
  }

  private onResource(stack: Stack, template: CfnTemplate, p: ResourceProgress): void {
    const definition = JSON.stringify(template.Resources[p.logicalId]);
    const old = stack.resources[p.logicalId];
    // An unchanged resource is not touched on an update, and CloudFormation writes no events for it.
    const unchanged = old && old.definition === definition && /(CREATE|UPDATE)_COMPLETE$/.test(old.ResourceStatus);
    if (unchanged && p.state !== 'FAILED') return;
    // The verb is fixed when the resource starts: an update of one that exists, else a create.
    const verb = old?.ResourceStatus.endsWith('_IN_PROGRESS')
      ? (old.ResourceStatus.split('_')[0] as string)
      : old && !old.ResourceStatus.startsWith('DELETE')
        ? 'UPDATE'
        : 'CREATE';
    const status = `${verb}_${p.state}`;
    const resource: StackResource = {
      LogicalResourceId: p.logicalId,
      PhysicalResourceId: p.physicalId ?? old?.PhysicalResourceId ?? '',
      ResourceType: p.type,
      ResourceStatus: status,
      ...(p.reason ? { ResourceStatusReason: p.reason } : {}),
      Timestamp: now(),
      definition: p.state === 'COMPLETE' ? definition : (old?.definition ?? ''),
      ...(template.Resources[p.logicalId]?.DeletionPolicy === 'Retain' ? { retain: true } : {}),
    };
    stack.resources[p.logicalId] = resource;
    this.resourceEvent(stack, resource);
  }

  /** Deletes the stack: DELETE_IN_PROGRESS → every resource deleted (Retain ones skipped) → DELETE_COMPLETE. */
  private async delete(stack: Stack): Promise<void> {
    this.setStatus(stack, 'DELETE_IN_PROGRESS', 'User Initiated');
    try {
      await this.opts.onStackChange?.(stack.StackName, undefined);
      await this.deleteResources(stack, () => true);
      stack.DeletionTime = now();
      this.setStatus(stack, 'DELETE_COMPLETE');
      for (let i = this.changeSets.length - 1; i >= 0; i--)
        if (this.changeSets[i]?.StackId === stack.StackId) this.changeSets.splice(i, 1);
      this.save();
    } catch (err) {
      this.setStatus(stack, 'DELETE_FAILED', (err as Error).message);
    }
  }

  /** Deletes the stack's resources that `which` picks, in reverse creation order; a failure stops with DELETE_FAILED on it. */
  private async deleteResources(stack: Stack, which: (logicalId: string) => boolean): Promise<void> {
    const ids = Object.keys(stack.resources).filter(which).reverse();
    for (const id of ids) {
      const r = stack.resources[id] as StackResource;
      if (r.ResourceStatus === 'DELETE_COMPLETE' || r.ResourceStatus === 'DELETE_SKIPPED') continue;
      const update = (status: string, reason?: string) => {
        Object.assign(r, { ResourceStatus: status, Timestamp: now() });
        if (reason) r.ResourceStatusReason = reason;
        else delete r.ResourceStatusReason;
        this.resourceEvent(stack, r);
      };
      if (r.retain || !r.PhysicalResourceId) {
        update('DELETE_SKIPPED');
      } else {
        update('DELETE_IN_PROGRESS');
        try {
          await deleteResource(r.ResourceType, r.PhysicalResourceId, {
            endpoint: this.opts.endpoint(),
            region: this.region(stack),
            s3: this.opts.s3,
            ssm: this.opts.ssm,
            cognito: this.opts.cognito,
          });
        } catch (err) {
          update('DELETE_FAILED', (err as Error).message);
          throw err;
        }
        update('DELETE_COMPLETE');
      }
      delete stack.resources[id];
    }
    this.save();
  }

  private setStatus(stack: Stack, status: string, reason?: string): void {
    stack.StackStatus = status;
    if (reason) stack.StackStatusReason = reason;
    else delete stack.StackStatusReason;
    this.event(stack, status, reason);
    this.opts.log?.(`cloudformation: ${stack.StackName} ${status}${reason ? ` (${reason})` : ''}`);
  }

  private event(stack: Stack, status: string, reason?: string): void {
    stack.events.push({
      EventId: randomUUID(),
      StackId: stack.StackId,
      StackName: stack.StackName,
      LogicalResourceId: stack.StackName,
      PhysicalResourceId: stack.StackId,
      ResourceType: 'AWS::CloudFormation::Stack',
      Timestamp: now(),
      ResourceStatus: status,
      ...(reason ? { ResourceStatusReason: reason } : {}),
    });
    this.save();
  }

  private resourceEvent(stack: Stack, r: StackResource): void {
    stack.events.push({
      EventId: `${r.LogicalResourceId}-${status(r)}-${randomUUID()}`,
      StackId: stack.StackId,
      StackName: stack.StackName,
      LogicalResourceId: r.LogicalResourceId,
      PhysicalResourceId: r.PhysicalResourceId,
      ResourceType: r.ResourceType,
      Timestamp: r.Timestamp,
      ResourceStatus: r.ResourceStatus,
      ...(r.ResourceStatusReason ? { ResourceStatusReason: r.ResourceStatusReason } : {}),
    });
    this.saveSoon();
  }

  private saveSoon(): void {
    this.pendingSave ??= setTimeout(() => this.save(), RESOURCE_SAVE_MS).unref();
  }

  private save(): void {
    clearTimeout(this.pendingSave);
    this.pendingSave = undefined;
    this.file.save({ stacks: this.stacks, changeSets: this.changeSets });
  }
}

const status = (r: StackResource) => r.ResourceStatus;

function parameterValues(template: CfnTemplate, params: StackParameter[]): Record<string, unknown> {
  return Object.fromEntries(
    params.map((p) => {
      const value = p.ResolvedValue ?? p.ParameterValue;
      const type = template.Parameters?.[p.ParameterKey]?.Type ?? 'String';
      return [p.ParameterKey, type === 'CommaDelimitedList' || type.startsWith('List<') ? value.split(',') : value];
    }),
  );
}
