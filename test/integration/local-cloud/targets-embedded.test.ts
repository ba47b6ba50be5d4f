import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from '../../../tools/load';
import { runVerify } from '../../../tools/verify';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { decodeScopedKey } from '../../../shared/ledger-contract/auth';

/** `npm run load -- --target embedded` (ticks into the stack's stream, found through stack.json), then verify. */
describe('load and verify on the embedded target', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'targets-embedded-'));
  const env = { ...process.env };
  let stack: EmbeddedStack;

  beforeAll(async () => {
    stack = await startEmbeddedStack({ dataDir, edgePort: 0, log: () => undefined });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    process.env = env;
  }, 60_000);

  // The same credentials as on AWS: each ledger-calling function holds a key of its own scope, never the root.
  it('gives each ledger-calling function a key of its own scope (admin, read, orders:write), never the root secret', () => {
    const scopes = Object.entries(stack.deployment.functions).flatMap(([logicalId, fn]) => {
      expect(Object.keys(fn.environment).filter((name) => name.startsWith('RAFT_AUTH_SECRET'))).toEqual([]);
      expect(JSON.stringify(fn.environment)).not.toContain(stack.raft.secret!);
      const key = fn.environment.RAFT_CLIENT_KEY;
      return key ? [`${logicalId} ${decodeScopedKey(key).scope}`] : [];
    });
    expect(scopes.sort()).toEqual([
      'AdminFunction admin',
      'ApiFunction read',
      'ExecuteFunction orders:write',
      'OrdersFunction orders:write',
      'WsConnectionFunction orders:write',
    ]);
  });

  it('every tick lands and verify passes', async () => {
    const lines: string[] = [];
    const load = await runLoad(['--data-dir', dataDir, '--rate', '150', '--seconds', '6', '--symbols', 'CCC'], (l) =>
      lines.push(l),
    );
    expect(load).toMatchObject({ sent: 900, accepted: 900, failed: 0 });
    expect(load.via).toContain('embedded');
    const code = await runVerify(['--data-dir', dataDir, '--settle', '90'], (l) => lines.push(l));
    const out = lines.join('\n');
    if (code !== 0) throw new Error(out);
    expect(out).toMatch(/check: commands: every command the runtime received/);
    expect(Number(/\bcommands\s+(\d+)/.exec(out)?.[1])).toBeGreaterThan(0);
  }, 240_000);
});
