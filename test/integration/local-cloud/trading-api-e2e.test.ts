import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { SignatureV4 } from '@smithy/signature-v4';
import { createRemoteJWKSet, generateKeyPair, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import WebSocket from 'ws';
import type { PoolRecord } from '../../../local-cloud/cognito/store';
import { mintTokens } from '../../../local-cloud/cognito/tokens';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { principalFromEvent, type Role } from '../../../shared/auth/principal';
import { EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { NodeSha256 } from '../../../shared/aws/sha256';
import { waitFor } from '../../../shared/util/wait';
import { userToken } from '../../../tools/lib/user-token';

/** The part of the edge's `<dataDir>/cognito.json` the expired-token test reads (local-cloud/cognito/store.ts). */
interface CognitoStateFile {
  pools: Record<string, Pick<PoolRecord, 'users' | 'key'>>;
}

/**
 * The trading API's users end to end on one embedded stack (one start serves both parts; each start is a synth and a
 * deploy, ~1 min of the suite): `npm run token` as a user runs it, then order entry and the operator routes.
 */

// Each token run is a fresh `node --import tsx` process loading the SDK: seconds on a quiet machine, far more on a busy one.
jest.setTimeout(300_000);

const dataDir = mkdtempSync(join(tmpdir(), 'trading-api-e2e-'));
const env = { ...process.env };
let stack: EmbeddedStack;

beforeAll(async () => {
  stack = await startEmbeddedStack({ dataDir, edgePort: 0, log: () => undefined });
}, 600_000); // synth + cdk deploy: ~2 min on a quiet 2-core machine, more when it is shared

afterAll(async () => {
  await stack?.stop();
  process.env = env;
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

const ROOT = resolve(__dirname, '../../..');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The tool with none of this process's AWS_* settings: it must find the stack through the data dir alone. */
function token(args: string[]): Promise<Result> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'tools/token.ts', ...args],
      { cwd: ROOT, env, timeout: 150_000 },
      (_err, stdout, stderr) => done({ code: child.exitCode, stdout, stderr }),
    );
  });
}

/** The status a WebSocket handshake ends in: 101 when it opens (then closed), else the HTTP status of the refusal. */
function handshake(url: string): Promise<number> {
  return new Promise((done, fail) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.close();
      done(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      done(res.statusCode ?? 0);
      res.resume();
    });
    ws.on('error', (err) => fail(err));
  });
}

/**
 * `npm run token -- --role R --account A` as a user runs it, a real process against a started embedded stack: the
 * stack's user pool was deployed by CloudFormation from the synthesized PipelineStack (not "NOT emulated"), the
 * tool finds it through stack.json, and the ID token it prints verifies against the JWKS the edge serves for the
 * pool, with the issuer and audience TradingApi's JWT authorizer checks, reads as the principal the API's functions
 * act for, and opens the emulated HTTP API's user routes and the WebSocket API.
 */
describe('npm run token -- --role … --account … on the embedded stack', () => {
  const verify = (idToken: string): Promise<JWTPayload> => {
    const poolId = stack.info.outputs.UserPoolId as string;
    const jwks = createRemoteJWKSet(new URL(`${stack.info.endpoint}/_aws/cognito-idp/${poolId}/.well-known/jwks.json`));
    return jwtVerify(idToken, jwks, {
      issuer: `https://cognito-idp.us-east-1.amazonaws.com/${poolId}`,
      audience: stack.info.outputs.UserPoolClientId as string,
    }).then((r) => r.payload);
  };

  it('deploys the user pool, its client and groups from the template', () => {
    const cognito = Object.values(stack.deployment.resources).filter((r) => r.type.startsWith('AWS::Cognito::'));
    expect(cognito.map((r) => r.type).sort()).toEqual([
      'AWS::Cognito::UserPool',
      'AWS::Cognito::UserPoolClient',
      'AWS::Cognito::UserPoolGroup',
      'AWS::Cognito::UserPoolGroup',
      'AWS::Cognito::UserPoolGroup',
    ]);
    expect(stack.deployment.notEmulated.filter((r) => r.type.startsWith('AWS::Cognito::'))).toEqual([]);
    expect(stack.info.outputs.UserPoolId).toMatch(/^us-east-1_[0-9A-Za-z]{9}$/);
  });

  it('prints an ID token for the role and account that verifies as the API’s authorizer would', async () => {
    const run = await token(['--role', 'trader', '--account', 'A1', '--data-dir', dataDir]);
    expect(run).toMatchObject({ code: 0 });
    expect(run.stderr).toContain('created user trader-a1 (account A1)');
    const claims = await verify(run.stdout.trim());
    expect(claims).toMatchObject({
      token_use: 'id',
      'cognito:username': 'trader-a1',
      'cognito:groups': ['trader'],
      'custom:account': 'A1',
    });
    // As API Gateway hands the claims to a function (arrays flattened), principal.ts reads the same user.
    const flattened = { ...claims, 'cognito:groups': '[trader]' };
    expect(principalFromEvent({ requestContext: { authorizer: { jwt: { claims: flattened } } } })).toEqual({
      kind: 'user',
      subject: claims.sub,
      account: 'A1',
      roles: ['trader'],
    });
  });

  it('reuses the user on a second run, and prints every token with --print all', async () => {
    const run = await token(['--role', 'trader', '--account', 'A1', '--data-dir', dataDir, '--print', 'all']);
    expect(run).toMatchObject({ code: 0 });
    expect(run.stderr).toContain('found user trader-a1');
    const all = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(all).sort()).toEqual(['AccessToken', 'ExpiresIn', 'IdToken', 'RefreshToken']);
    expect(all.ExpiresIn).toBe(3600);
    await expect(verify(all.IdToken as string)).resolves.toMatchObject({ 'custom:account': 'A1' });
  });

  it('opens the HTTP API’s user routes through the emulated API Gateway; no token or a foreign one is 401', async () => {
    const run = await token(['--role', 'viewer', '--account', 'A1', '--data-dir', dataDir]);
    expect(run).toMatchObject({ code: 0 });
    const api = stack.info.apis.find((a) => a.protocol === 'HTTP')?.urls[0];
    if (!api) throw new Error('the embedded stack serves no HTTP API');
    const get = (authorization?: string) =>
      fetch(`${api}/positions`, authorization ? { headers: { authorization } } : {});
    const ok = await get(run.stdout.trim());
    expect(ok.status).toBe(200);
    expect(await ok.json()).toHaveProperty('positions');
    expect((await get(`Bearer ${run.stdout.trim()}`)).status).toBe(200);
    const none = await get();
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ message: 'Unauthorized' });
    // Signed by a key the pool does not have: what a forged token looks like.
    const forged = await new SignJWT({ 'custom:account': 'A1', 'cognito:groups': ['admin'], token_use: 'id' })
      .setProtectedHeader({ alg: 'RS256', kid: 'forged' })
      .setIssuer(`https://cognito-idp.us-east-1.amazonaws.com/${stack.info.outputs.UserPoolId}`)
      .setAudience(stack.info.outputs.UserPoolClientId as string)
      .setExpirationTime('1h')
      .sign((await generateKeyPair('RS256')).privateKey);
    expect((await get(forged)).status).toBe(401);
  });

  it('opens the WebSocket API: its $connect authorizer verifies the token against the edge’s keys', async () => {
    const poolId = stack.info.outputs.UserPoolId as string;
    const authorizer = Object.values(stack.deployment.functions).find((f) => f.environment.USER_POOL_JWKS_URI);
    expect(authorizer?.environment.USER_POOL_JWKS_URI).toBe(
      `${stack.info.endpoint}/_aws/cognito-idp/${poolId}/.well-known/jwks.json`,
    );
    const url = stack.info.apis.find((a) => a.protocol === 'WEBSOCKET')?.urls[0];
    if (!url) throw new Error('the embedded stack serves no WebSocket API');
    const run = await token(['--role', 'trader', '--account', 'A1', '--data-dir', dataDir]);
    expect(run).toMatchObject({ code: 0 });
    expect(await handshake(`${url}?token=${encodeURIComponent(run.stdout.trim())}`)).toBe(101);
    // Refused without a token: the authorizer fails with `Unauthorized`, which API Gateway answers with 401.
    expect(await handshake(url)).toBe(401);
  });

  it('refuses to move an existing user to another account (custom:account is immutable)', async () => {
    const run = await token(['--role', 'trader', '--account', 'B2', '--username', 'trader-a1', '--data-dir', dataDir]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^npm run token: user trader-a1 exists with custom:account A1, not B2/);
  });
});

/**
 * Order entry and the operator routes end to end on the embedded cloud: PipelineStack deployed from its template,
 * requests through the emulated API Gateway (the JWT authorizer with the user pool's real ID tokens, IAM with SigV4
 * from the SDK's signer), the orders function in the local runtime, the order executed by the deployed pipeline.
 */
describe('POST/DELETE /orders and /admin through the emulated HTTP API', () => {
  let base: string;
  let cognito: CognitoIdentityProviderClient;
  let executedOrderId: string | undefined;

  beforeAll(() => {
    base = stack.info.apis.find((a) => a.protocol === 'HTTP')!.urls[0]!.replace(/\/+$/, '');
    cognito = new CognitoIdentityProviderClient({
      endpoint: stack.info.endpoint,
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
    });
  });

  afterAll(() => cognito?.destroy());

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
    executedOrderId = orderId;
  });

  it('refuses through the gateway: an expired token (401), another account’s order, history and positions', async () => {
    if (!executedOrderId) throw new Error('runs after the order-entry test, which executes an order of E2E1');
    // An ID token the pool issued two hours ago (its own minting code and signing key, from the edge's state file):
    // valid signature, issuer and audience, expired an hour ago. API Gateway's JWT authorizer answers 401.
    const { outputs } = stack.info;
    const pool = (JSON.parse(readFileSync(join(dataDir, 'cognito.json'), 'utf8')) as CognitoStateFile).pools[
      outputs.UserPoolId!
    ]!;
    const user = Object.values(pool.users).find((u) => u.attributes['custom:account'] === 'E2E1');
    if (!user) throw new Error('the order-entry test created a trader of E2E1');
    const twoHoursAgo = Math.floor(Date.now() / 1000) - 7200;
    const { idToken: expired } = await mintTokens({
      poolId: outputs.UserPoolId!,
      clientId: outputs.UserPoolClientId!,
      key: pool.key,
      user: { username: user.Username, sub: user.sub, attributes: user.attributes, groups: user.groups },
      authTime: twoHoursAgo,
      originJti: randomUUID(),
      now: twoHoursAgo,
      idTokenSeconds: 3600,
      accessTokenSeconds: 3600,
    });
    const stale = await fetch(`${base}/orders/${executedOrderId}`, { headers: { authorization: expired } });
    expect(stale.status).toBe(401);
    expect(await stale.json()).toEqual({ message: 'Unauthorized' });
    expect(stale.headers.get('www-authenticate')).toContain('"exp" claim timestamp check failed');
    // The same user with a fresh token reads it; a trader of another account sees neither the order nor its history.
    expect((await call('GET', `/orders/${executedOrderId}`, await tokenFor('trader', 'E2E1'))).status).toBe(200);
    const other = await tokenFor('trader', 'OTHER');
    expect(await call('GET', `/orders/${executedOrderId}`, other)).toEqual({
      status: 404,
      body: { message: `no order ${executedOrderId}` },
    });
    const history = await call('GET', '/orders?account=E2E1', other);
    expect(history).toEqual({
      status: 403,
      body: { message: 'account: you may read only your own account (OTHER)' },
    });
    const own = await call('GET', '/orders', other);
    expect(own.status).toBe(200);
    expect((own.body.orders as { orderId: string }[]).map((o) => o.orderId)).not.toContain(executedOrderId);
    expect((await call('GET', '/positions?account=E2E1', other)).status).toBe(403);
    // An admin may read any account's order.
    expect((await call('GET', `/orders/${executedOrderId}`, await tokenFor('admin', 'OPS'))).status).toBe(200);
  });

  it('the operator routes take SigV4 (unsigned: 403 from the gateway) and show the cluster', async () => {
    expect((await fetch(`${base}/admin/cluster`)).status).toBe(403);
    const res = await signed('GET', '/admin/cluster');
    expect(res.status).toBe(200);
    const view = (await res.json()) as { leader: string | null; members: unknown[]; queues: { name: string }[] };
    expect(view.leader).toEqual(expect.any(String));
    expect(view.members).toHaveLength(3);
    // Every stage the alarms watch, its depths read from the deployed queues (none unreadable).
    const stages = ['commands', 'events', 'ws-notifier', 'ws-account-updates', 'process', 'market-data'];
    expect(view.queues.map((q) => q.name)).toEqual(stages);
    for (const q of view.queues) expect(q).toMatchObject({ deadLetters: expect.any(Number) });
  });

  it('the same operations on /operator take an admin user token (no token: 401, a trader: 403)', async () => {
    expect((await call('GET', '/operator/cluster')).status).toBe(401);
    expect((await call('GET', '/operator/cluster', await tokenFor('trader', 'A1'))).status).toBe(403);
    const view = await call('GET', '/operator/cluster', await tokenFor('admin', 'OPS'));
    expect(view).toMatchObject({ status: 200, body: { leader: expect.any(String) } });
  });
});
