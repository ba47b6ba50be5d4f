import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';
import { BUNDLE_INPUTS } from '../../../infra/constructs/bundle-hash';
import { FUNCTION_NAMES } from '../../../infra/constructs/pipeline-function';

const REPO = path.resolve(__dirname, '../../..');

/**
 * A function's asset hash is a digest of BUNDLE_INPUTS (infra/constructs/bundle-hash.ts), so a synth finding a bundle
 * of that hash does not build it again: sound only while every file a bundle is built from lies there. esbuild lists
 * each entry's inputs (its service runs as a process: hence an integration test).
 */
describe('function bundles: what their asset hash covers', () => {
  it('covers every source a function bundle is built from', async () => {
    const entries = [
      ...FUNCTION_NAMES.map((name) => path.join(REPO, 'functions', name, 'handler.ts')),
      path.join(REPO, 'infra/handlers/raft-client-keys.ts'),
    ];
    expect(FUNCTION_NAMES.length).toBe(readdirSync(path.join(REPO, 'functions')).length);
    for (const entry of entries) {
      const { metafile } = await build({
        entryPoints: [entry],
        bundle: true,
        platform: 'node',
        write: false,
        metafile: true,
        outfile: 'out.js',
        logLevel: 'silent',
        absWorkingDir: REPO,
      });
      const outside = Object.keys(metafile.inputs).filter(
        (input) => !input.startsWith('node_modules/') && !BUNDLE_INPUTS.some((dir) => input.startsWith(`${dir}/`)),
      );
      expect({ entry, outside }).toEqual({ entry, outside: [] });
    }
  });
});
