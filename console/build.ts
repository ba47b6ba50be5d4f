/**
 * Builds the web console into memory: the browser code bundled by esbuild (lightweight-charts included), the page,
 * its stylesheet, and config.json naming the public APIs it talks to. The embedded cloud serves the result; for
 * another host, write the same files to a folder (`npm run console:build -- <dir>` is not provided yet).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { ConsoleConfig } from './config';

export type { ConsoleConfig };

export interface StaticFile {
  body: Buffer;
  contentType: string;
}

const ROOT = __dirname;

export async function buildConsole(config: ConsoleConfig): Promise<Record<string, StaticFile>> {
  const bundle = await build({
    entryPoints: [join(ROOT, 'src', 'main.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0];
  if (!js) throw new Error('console: esbuild produced no bundle');
  const read = (name: string) => readFileSync(join(ROOT, name));
  return {
    'index.html': { body: read('index.html'), contentType: 'text/html; charset=utf-8' },
    'style.css': { body: read('style.css'), contentType: 'text/css; charset=utf-8' },
    'app.js': { body: Buffer.from(js.contents), contentType: 'text/javascript; charset=utf-8' },
    'config.json': { body: Buffer.from(JSON.stringify(config)), contentType: 'application/json' },
  };
}
