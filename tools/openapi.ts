import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import * as z from 'zod';
import { CommandError, defineCommand, runCommand } from '../shared/process/cli';
import { OPENAPI_PATH, renderOpenApiDocument } from './lib/openapi-document';

const command = defineCommand({
  name: 'npm run openapi',
  usage: `usage: npm run openapi [-- --check]
Writes docs/openapi.json: the OpenAPI 3.0 document of the HTTP API, from the synthesized PipelineStack (its routes and
authorizers) and the route contracts in shared/api/routes.ts. A route without a contract fails (exit 1).
  --check    write nothing; exit 1 when docs/openapi.json differs from a fresh generation`,
  options: { check: { type: 'boolean', default: false } },
  schema: z.object({ check: z.boolean() }),
});

runCommand(command, async ({ argv }) => {
  const { check } = command.parse(argv);
  const fresh = renderOpenApiDocument();
  const path = relative(process.cwd(), OPENAPI_PATH);
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(OPENAPI_PATH, 'utf8');
    } catch {
      // missing: differs
    }
    if (committed !== fresh) throw new CommandError(`${path} is out of date: run npm run openapi`);
    process.stdout.write(`${path} is up to date\n`);
    return;
  }
  writeFileSync(OPENAPI_PATH, fresh);
  process.stdout.write(`wrote ${path}\n`);
});
