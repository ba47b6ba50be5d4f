import { fork, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundledScript } from '../../../local-cloud/process-bundle';
import type { WorkerToHost } from '../../../local-cloud/runtime/types';

const HOST = resolve(__dirname, '../../../local-cloud/runtime/worker-host.ts');

describe('scripts the embedded cloud starts, bundled once per launcher', () => {
  it('clears a dead launcher’s folder, bundles once, and the bundle runs under plain node', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // exited: its pid names no process now
    const orphan = join(tmpdir(), `local-cloud-bundles-${dead}-x1`);
    mkdirSync(orphan, { recursive: true });

    const script = bundledScript(HOST, 'runtime/worker-host.js');
    expect(existsSync(orphan)).toBe(false);
    expect(script).toMatch(new RegExp(`local-cloud-bundles-${process.pid}-[^/]+/runtime/worker-host\\.js$`));
    const built = statSync(script).mtimeMs;
    expect(bundledScript(HOST, 'runtime/worker-host.js')).toBe(script);
    expect(statSync(script).mtimeMs).toBe(built);

    // No TypeScript loader: a worker starts from the bundle alone and answers an invocation over IPC.
    const handler = join(mkdtempSync(join(tmpdir(), 'bundle-handler-')), 'index.js');
    writeFileSync(handler, 'exports.handler = async (event) => ({ echoed: event });');
    const child = fork(script, [handler, 'handler'], { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const messages: WorkerToHost[] = [];
    const result = await new Promise<WorkerToHost>((done, fail) => {
      child.on('exit', (code) => fail(new Error(`worker exited (${code}) after ${JSON.stringify(messages)}`)));
      child.on('message', (m: WorkerToHost) => {
        messages.push(m);
        if (m.type === 'ready')
          child.send({ type: 'invoke', requestId: 'r1', event: { a: 1 }, deadlineMs: Date.now() + 5000, traceId: 't' });
        if (m.type === 'result') done(m);
      });
    });
    child.kill('SIGKILL');
    expect(result).toEqual({ type: 'result', requestId: 'r1', ok: true, payload: { echoed: { a: 1 } } });
  });
});
