import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRemoteJWKSet, generateKeyPair, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import WebSocket from 'ws';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { principalFromEvent } from '../../../shared/auth/principal';

/**
 * `npm run token -- --role R --account A` as a user runs it, a real process against a started embedded stack: the
 * stack's user pool was deployed by CloudFormation from the synthesized PipelineStack (not "NOT emulated"), the
 * tool finds it through stack.json, and the ID token it prints verifies against the JWKS the edge serves for the
 * pool, with the issuer and audience TradingApi's JWT authorizer checks, reads as the principal the API's functions
 * act for, and opens the emulated HTTP API's user routes and the WebSocket API.
 */

// Each run is a fresh `node --import tsx` process loading the SDK: seconds on a quiet machine, far more on a busy one.
jest.setTimeout(180_000);

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

describe('npm run token -- --role … --account … on the embedded stack', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'token-embedded-'));
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
    // Refused without a token. AWS answers the authorizer's `Unauthorized` error with 401; the emulation answers
    // it with 500 today (its Lambda-authorizer error mapping, not this token), so only the refusal is checked here.
    expect(await handshake(url)).not.toBe(101);
  });

  it('refuses to move an existing user to another account (custom:account is immutable)', async () => {
    const run = await token(['--role', 'trader', '--account', 'B2', '--username', 'trader-a1', '--data-dir', dataDir]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^npm run token: user trader-a1 exists with custom:account A1, not B2/);
  });
});
