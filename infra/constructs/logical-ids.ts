import { CfnResource, Names, Stack, type CfnElement } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct, type IConstruct, type Node } from 'constructs';

/**
 * A construct that gives resources a home by job (tick ingestion, order execution, network, …) without being
 * part of their CloudFormation identity: inside a `GroupingStack`, every resource below a ResourceGroup keeps the
 * logical id it would have as if the group were not in its path — the ids the stacks had before they were split
 * into these constructs. CloudFormation replaces a resource whose logical id changes (a new, empty table; a new
 * stream; a failed update for an export still in use), so deployed stacks keep every resource across the split.
 * CDK hides construct ids named 'Default' from logical ids the same way; this widens that to named groups.
 */
export class ResourceGroup extends Construct {}

/** The construct's scopes (the app, the stack, …, itself) without the ResourceGroups among them. */
function scopesOutsideGroups(construct: IConstruct): IConstruct[] {
  return construct.node.scopes.filter((scope) => !(scope instanceof ResourceGroup));
}

/** A stack whose logical ids skip ResourceGroups (see there). Collisions still fail the synth (CDK's own check). */
export class GroupingStack extends Stack {
  protected override allocateLogicalId(element: CfnElement): string {
    const scopes = scopesOutsideGroups(element);
    if (scopes.length === element.node.scopes.length) return super.allocateLogicalId(element);
    // CDK's scheme (a readable prefix and a hash of the path below the stack) reads only `stack` and
    // `node.scopes`; handing it the path without the groups reuses it rather than copying it.
    return super.allocateLogicalId({ stack: element.stack, node: { scopes } } as unknown as CfnElement);
  }
}

/**
 * A security group whose unique id ignores ResourceGroups too. CDK writes a peer group's unique id into the
 * construct id of every rule that names it (`from <uniqueId>:7000`), so that id is part of the rules' logical ids;
 * a replaced ingress rule fails the update ("the specified rule already exists").
 */
export class GroupedSecurityGroup extends ec2.SecurityGroup {
  override get uniqueId(): string {
    return Names.nodeUniqueId({ scopes: scopesOutsideGroups(this) } as unknown as Node);
  }
}

/** Keeps the construct id as the CloudFormation logical id, so the template names match the architecture. */
export function named<T extends IConstruct>(construct: T): T {
  const resource = construct.node.defaultChild;
  if (resource instanceof CfnResource) resource.overrideLogicalId(construct.node.id);
  else if (construct instanceof CfnResource) construct.overrideLogicalId(construct.node.id);
  return construct;
}
