import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { App, type Stack } from 'aws-cdk-lib';
import { createTradingStacks, FEATURE_FLAGS, type TradingStacks } from '../../../infra/stacks';
import { seedAssets } from '../../../local-cloud/deploy/asset-cache';

/**
 * A temporary cloud assembly directory (remove it in afterAll), holding the function bundles the embedded cloud's
 * syntheses keep (local-cloud/deploy/asset-cache.ts): bundles of the same sources are not built again. Bundling itself
 * is exercised by any synth that finds none (test/integration/local-cloud/synth-cache.test.ts).
 */
export function assemblyDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'infra-test-'));
  seedAssets(dir);
  return dir;
}

/**
 * The app exactly as infra/app.ts builds it (same stacks, feature flags and cdk-nag aspect), with the given
 * context instead of the CLI's. Constructing it bundles the four functions with esbuild; CDK reuses a bundle
 * within the process for the same output directory, so apps of one test file share one `outdir` (each app's
 * templates are read right after its own synth) and the functions are bundled once per file.
 */
export function buildTradingApp(
  context: Record<string, unknown>,
  outdir: string = assemblyDir(),
  opts: { validateTemplates?: boolean } = {},
): TradingStacks & { app: App; outdir: string } {
  const app = new App({
    outdir,
    // CDK's built-in CloudFormation validation (resource schemas and rules, run in WebAssembly at every synth) costs
    // ~5 s of CPU a synth: synth.test.ts runs it on each target's whole app; the other infra tests leave it off.
    builtinCloudFormationValidation: opts.validateTemplates ?? false,
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-asset-metadata': true, ...context },
  });
  return { app, outdir, ...createTradingStacks(app) };
}

/**
 * What CDK's built-in CloudFormation validation found in a cloud assembly (its `validation-report.json`), as
 * "rule: description (construct path)" lines; it reports them as warnings and the synth goes on, so a test must
 * read them. Throws when the report is missing: the validation did not run.
 */
export function templateValidationFindings(assemblyDirectory: string): string[] {
  const file = path.join(assemblyDirectory, 'validation-report.json');
  if (!existsSync(file)) throw new Error(`no ${file}: CDK's CloudFormation validation did not run`);
  const report = JSON.parse(readFileSync(file, 'utf8')) as {
    pluginReports: {
      violations: { ruleName: string; description: string; violatingConstructs: { constructPath: string }[] }[];
    }[];
  };
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.map(
      (v) => `${v.ruleName}: ${v.description} (${v.violatingConstructs.map((c) => c.constructPath).join(', ')})`,
    ),
  );
}

/** cdk-nag findings (errors and warnings) left unsuppressed on a stack, as readable lines. */
export function unresolvedNagFindings(stack: Stack): string[] {
  const annotations = Annotations.fromStack(stack);
  const nag = Match.stringLikeRegexp('(AwsSolutions|CdkNagValidationFailure)');
  return [...annotations.findError('*', nag), ...annotations.findWarning('*', nag)].map(
    (finding) => `${finding.id}: ${String(finding.entry.data).split(':')[0]}`,
  );
}

/** Every cdk-nag suppression in a template, with the resource it is on. */
export function nagSuppressions(template: Template): { resource: string; id: string; reason: string }[] {
  const found: { resource: string; id: string; reason: string }[] = [];
  for (const [logicalId, resource] of Object.entries(template.toJSON().Resources as Record<string, NagMetadata>)) {
    for (const rule of resource.Metadata?.cdk_nag?.rules_to_suppress ?? []) {
      found.push({ resource: logicalId, id: rule.id, reason: rule.reason });
    }
  }
  return found;
}

interface NagMetadata {
  Metadata?: { cdk_nag?: { rules_to_suppress?: { id: string; reason: string }[] } };
}

/** The statements of every IAM policy attached to a role, by role logical id. */
export function policyStatementsByRole(template: Template): Map<string, PolicyStatementJson[]> {
  const byRole = new Map<string, PolicyStatementJson[]>();
  const policies = template.findResources('AWS::IAM::Policy') as Record<string, PolicyResource>;
  for (const policy of Object.values(policies)) {
    for (const role of policy.Properties.Roles) {
      const roleId = role.Ref ?? JSON.stringify(role);
      byRole.set(roleId, [...(byRole.get(roleId) ?? []), ...policy.Properties.PolicyDocument.Statement]);
    }
  }
  return byRole;
}

export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

interface PolicyResource {
  Properties: { Roles: { Ref?: string }[]; PolicyDocument: { Statement: PolicyStatementJson[] } };
}

export const actionsOf = (statement: PolicyStatementJson): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];
