import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ASSET_CACHE_DIR, keepAssets, seedAssets } from './asset-cache';
import { REPO_ROOT, runNodeScript } from './cdk-cli';

export interface SynthOptions {
  /** The CDK app's entry file (default: infra/app.ts, as cdk.json says). */
  appFile?: string;
  outdir: string;
  /** Context values, as `cdk synth -c key=value` would give them. */
  context: Record<string, string>;
  /**
   * Where function bundles are kept between syntheses (asset-cache.ts); the default for the project's own app
   * (infra/app.ts, whose functions' asset hashes are known before bundling), none for another app.
   */
  assetCache?: string;
}

export interface CloudAssemblyStack {
  stackName: string;
  templateFile: string;
  template: CfnTemplate;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
  DeletionPolicy?: string;
}

export interface CfnParameter {
  Type: string;
  Default?: unknown;
  Description?: string;
  NoEcho?: boolean | string;
  AllowedValues?: unknown[];
}

export interface CfnTemplate {
  Description?: string;
  Parameters?: Record<string, CfnParameter>;
  Conditions?: Record<string, unknown>;
  Rules?: Record<string, { RuleCondition?: unknown; Assertions?: { Assert: unknown; AssertDescription?: string }[] }>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string; Condition?: string; Export?: { Name: unknown } }>;
}

/**
 * Synthesizes the cloud assembly the way the CDK CLI does: runs the app in a child process with
 * CDK_OUTDIR and CDK_CONTEXT_JSON set (the contract between the CLI and aws-cdk-lib's App). Lambda
 * bundling is esbuild from node_modules, so this works offline.
 */
export async function synthesize(opts: SynthOptions): Promise<void> {
  rmSync(opts.outdir, { recursive: true, force: true });
  const appFile = opts.appFile ?? join(REPO_ROOT, 'infra/app.ts');
  const cache = opts.assetCache ?? (opts.appFile ? undefined : ASSET_CACHE_DIR);
  if (cache) seedAssets(opts.outdir, cache);
  const { code, output } = await runNodeScript(['--import', 'tsx', appFile], {
    env: {
      ...process.env,
      CDK_OUTDIR: opts.outdir,
      CDK_CONTEXT_JSON: JSON.stringify(opts.context),
      // CDK's built-in CloudFormation validation (resource schemas and rules in WebAssembly) took ~5 s of a synth's
      // ~11 s of CPU on every start. It checks what the app's code builds, which a start's context (ports, secrets,
      // a shard count) only fills in: CI runs it on the app (test/integration/infra/synth.test.ts), and `cdk synth`
      // still does. CDK_VALIDATION is CDK's own switch.
      CDK_VALIDATION: 'false',
    },
  });
  if (code !== 0) throw new Error(`cdk synth of ${appFile} failed (exit ${code}):\n${output.slice(-4000)}`);
  if (cache) keepAssets(opts.outdir, cache);
}

/** Reads one stack's template from a synthesized cloud assembly. */
export function readStack(outdir: string, stackName: string): CloudAssemblyStack {
  const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts?: Record<string, { type: string; properties?: { templateFile?: string }; displayName?: string }>;
  };
  const artifact = Object.entries(manifest.artifacts ?? {}).find(
    ([id, a]) => a.type === 'aws:cloudformation:stack' && (id === stackName || a.displayName === stackName),
  );
  if (!artifact?.[1].properties?.templateFile) {
    const stacks = Object.entries(manifest.artifacts ?? {})
      .filter(([, a]) => a.type === 'aws:cloudformation:stack')
      .map(([id]) => id);
    throw new Error(
      `the cloud assembly in ${outdir} has no stack ${stackName} (it has: ${stacks.join(', ') || 'none'})`,
    );
  }
  const templateFile = join(outdir, artifact[1].properties.templateFile);
  return { stackName, templateFile, template: JSON.parse(readFileSync(templateFile, 'utf8')) as CfnTemplate };
}
