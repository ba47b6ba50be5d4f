import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { FUNCTION_NAMES } from '../../infra/pipeline-stack';
import { assemblyDir, buildTradingApp } from './app-harness';

type Template = { Resources: Record<string, { Type: string; Metadata?: Record<string, unknown> }> };

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
  const assembly = buildTradingApp(context, outdir).app.synth();
  const stackNames = assembly.stacks.map((stack) => stack.stackName).sort();
  const pipelineDependencies = assembly.getStackByName('PipelineStack').dependencies.map((artifact) => artifact.id);
  const template = assembly.getStackByName('PipelineStack').template as Template;

  it(`produces ${expectedStacks.join(' + ')}`, () => {
    expect(stackNames).toEqual(expectedStacks);
    if (target === 'aws') expect(pipelineDependencies).toContain('RaftClusterStack');
    else expect(pipelineDependencies).not.toContain('RaftClusterStack');
  });

  it('bundles every function (minified, with a source map) into the cloud assembly', () => {
    for (const name of FUNCTION_NAMES) {
      const logicalId = `${name.charAt(0).toUpperCase()}${name.slice(1)}Function`;
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
