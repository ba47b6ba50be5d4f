import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../../../shared/aws/sha256';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import type { Role } from '../../../shared/auth/principal';
import { EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { waitFor } from '../../../shared/util/wait';
import { userToken } from '../../../tools/lib/user-token';

/**
 * Order entry and the operator routes end to end on the embedded cloud: PipelineStack deployed from its template,
 * requests through the emulated API Gateway (the JWT authorizer with the user pool's real ID tokens, IAM with SigV4
 * from the SDK's signer), the orders function in the local runtime, the order executed by the deployed pipeline.
 */

jest.setTimeout(300_000);

describe('POST/DELETE /orders and /admin through the emulated HTTP API', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'orders-e2e-'));
  let stack: EmbeddedStack;
  let base: string;
  let cognito: CognitoIdentityProviderClient;

  beforeAll(async () => {
    stack = await startEmbeddedStack({ dataDir, edgePort: 0, log: () => undefined });
    base = stack.info.apis.find((a) => a.protocol === 'HTTP')!.urls[0]!.replace(/\/+$/, '');
    cognito = new CognitoIdentityProviderClient({
      endpoint: stack.info.endpoint,
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
    });
  }, 300_000);

  afterAll(async () => {
    cognito?.destroy();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  const tokenFor = async (role: Role, account: string): Promise<string> => {
    const { outputs } = stack.info;
    const auth = await userToken(
      cognito,
      { poolId: outputs.UserPoolId!, clientId: outputs.UserPoolClientId!, role, account },
      () => undefined,
    );
    return auth.IdToken!;
  };
  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (res.status === 401 && token) {
      // A refused token: say why (the gateway's reason and the token's claims), not just 401.
      const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as object;
      throw new Error(`${method} ${path}: 401 ${res.headers.get('www-authenticate')} ${JSON.stringify(claims)}`);
    }
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  /** A SigV4-signed request (the SDK's signer, the emulator's credentials), as an IAM caller sends it. */
  const signed = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const url = new URL(`${base}${path}`);
    const text = body === undefined ? undefined : JSON.stringify(body);
    const signer = new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
      sha256: NodeSha256,
    });
    const request = await signer.sign({
      method,
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      headers: { host: url.host, ...(text === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(text === undefined ? {} : { body: text }),
    });
    return fetch(url, { method, headers: request.headers, ...(text === undefined ? {} : { body: text }) });
  };

  it('a trader enters an order with a real token; it executes; its cancel is refused as EXECUTED', async () => {
    const trader = await tokenFor('trader', 'E2E1');
    // A tick of a symbol of this test's own (POST /ticks, IAM): process records its price.
    const tick = await signed('POST', '/ticks', [{ symbol: 'E2EX', price: 100, size: 1, ts: Date.now() }]);
    expect(tick.status).toBe(202);
    const order = { clientOrderId: 'e2e-1', symbol: 'E2EX', side: 'BUY', type: 'market', quantity: 1 };
    expect((await call('POST', '/orders', undefined, order)).status).toBe(401);
    expect((await call('POST', '/orders', await tokenFor('viewer', 'E2E1'), order)).status).toBe(403);
    // Until process has seen the tick, the entry says there is no price (409) and records nothing.
    let entered = await call('POST', '/orders', trader, order);
    await waitFor('a price for E2EX', 60_000, async () => {
      entered = await call('POST', '/orders', trader, order);
      return entered.status !== 409;
    });
    expect(entered).toMatchObject({ status: 202, body: { status: 'PENDING' } });
    const orderId = entered.body.orderId as string;
    await waitFor(`order ${orderId} executed`, 60_000, async () => {
      const read = await call('GET', `/orders/${orderId}`, trader);
      return read.status === 200 && (read.body.order as { status?: string } | null)?.status === 'ACCEPTED';
    });
    expect(await call('DELETE', `/orders/${orderId}`, trader)).toEqual({
      status: 409,
      body: { orderId, status: 'EXECUTED' },
    });
    expect((await call('DELETE', `/orders/${orderId}`, await tokenFor('trader', 'OTHER'))).status).toBe(404);
  });

  it('the operator routes take SigV4 (unsigned: 403 from the gateway) and show the cluster', async () => {
    expect((await fetch(`${base}/admin/cluster`)).status).toBe(403);
    const res = await signed('GET', '/admin/cluster');
    expect(res.status).toBe(200);
    const view = (await res.json()) as { leader: string | null; members: unknown[] };
    expect(view.leader).toEqual(expect.any(String));
    expect(view.members).toHaveLength(3);
  });
});
