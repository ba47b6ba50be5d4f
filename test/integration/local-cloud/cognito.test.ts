import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStacksCommand,
} from '@aws-sdk/client-cloudformation';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminDeleteUserCommand,
  AdminGetUserCommand,
  AdminInitiateAuthCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  DescribeUserPoolClientCommand,
  DescribeUserPoolCommand,
  InitiateAuthCommand,
  ListUserPoolClientsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startEdge, type Edge } from '../../../local-cloud/edge';
import { waitFor } from '../../../shared/util/wait';
import { cliEnv, findAwsClis, runAwsCli } from '../../support/aws-cli';

/**
 * The local Cognito IdP on the edge, driven as a user's code and tools drive Cognito: a user pool, its app clients
 * and groups deployed by CloudFormation from a template, users created and signed in through the real SDK, the pools
 * listed by the real AWS CLI, tokens verified with jose against the JWKS the edge serves, and the keys kept across
 * a restart of the edge on the same data dir.
 */

jest.setTimeout(120_000);

const STACK = 'CognitoTestStack';
const PASSWORD = 'Correct-Horse-9-battery';
const TEMPLATE = {
  Resources: {
    UserPool: {
      Type: 'AWS::Cognito::UserPool',
      Properties: {
        UserPoolName: 'trading-users',
        AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
        UsernameConfiguration: { CaseSensitive: false },
        Policies: {
          PasswordPolicy: {
            MinimumLength: 12,
            RequireLowercase: true,
            RequireUppercase: true,
            RequireNumbers: true,
            RequireSymbols: true,
          },
        },
        Schema: [{ Name: 'account', AttributeDataType: 'String', Mutable: false }],
      },
    },
    Client: {
      Type: 'AWS::Cognito::UserPoolClient',
      Properties: {
        UserPoolId: { Ref: 'UserPool' },
        ExplicitAuthFlows: [
          'ALLOW_USER_PASSWORD_AUTH',
          'ALLOW_ADMIN_USER_PASSWORD_AUTH',
          'ALLOW_USER_SRP_AUTH',
          'ALLOW_REFRESH_TOKEN_AUTH',
        ],
        PreventUserExistenceErrors: 'ENABLED',
        IdTokenValidity: 60,
        AccessTokenValidity: 60,
        TokenValidityUnits: { IdToken: 'minutes', AccessToken: 'minutes' },
      },
    },
    // An app client that tells unknown users apart (Cognito's LEGACY behaviour) and allows SRP only.
    LegacyClient: {
      Type: 'AWS::Cognito::UserPoolClient',
      Properties: {
        UserPoolId: { Ref: 'UserPool' },
        ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
        PreventUserExistenceErrors: 'LEGACY',
      },
    },
    SecretClient: {
      Type: 'AWS::Cognito::UserPoolClient',
      Properties: {
        UserPoolId: { Ref: 'UserPool' },
        GenerateSecret: true,
        ExplicitAuthFlows: ['ALLOW_USER_PASSWORD_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
      },
    },
    SrpOnlyClient: {
      Type: 'AWS::Cognito::UserPoolClient',
      Properties: { UserPoolId: { Ref: 'UserPool' }, ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH'] },
    },
    ...Object.fromEntries(
      ['admin', 'trader', 'viewer'].map((g) => [
        `Group${g}`,
        { Type: 'AWS::Cognito::UserPoolGroup', Properties: { UserPoolId: { Ref: 'UserPool' }, GroupName: g } },
      ]),
    ),
  },
  Outputs: {
    UserPoolId: { Value: { Ref: 'UserPool' } },
    UserPoolProviderUrl: { Value: { 'Fn::GetAtt': ['UserPool', 'ProviderURL'] } },
    UserPoolClientId: { Value: { Ref: 'Client' } },
    LegacyClientId: { Value: { Ref: 'LegacyClient' } },
    SrpOnlyClientId: { Value: { Ref: 'SrpOnlyClient' } },
    SecretClientId: { Value: { Ref: 'SecretClient' } },
  },
};

/** A GET with its own Host header (fetch sets Host from the URL). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const backends = () => ({
  kinesis: process.env.AWS_ENDPOINT_URL_KINESIS as string,
  dynamodb: process.env.AWS_ENDPOINT_URL_DYNAMODB as string,
  sqs: process.env.AWS_ENDPOINT_URL_SQS as string,
});

describe('the local Cognito IdP on the edge', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cognito-idp-'));
  const saved = { ...process.env };
  let edge: Edge;
  let idp: CognitoIdentityProviderClient;
  let outputs: Record<string, string>;

  const startOnDataDir = async () => {
    edge = await startEdge({ port: 0, dataDir, backends: backends() });
    await edge.cloudformation.restore();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: edge.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    idp = new CognitoIdentityProviderClient({});
  };
  const stopEdge = async () => {
    idp?.destroy();
    await edge?.stop();
  };

  beforeAll(async () => {
    await startOnDataDir();
    const cfn = new CloudFormationClient({});
    await cfn.send(new CreateStackCommand({ StackName: STACK, TemplateBody: JSON.stringify(TEMPLATE) }));
    const stack = await waitFor(`${STACK} to be created`, 30_000, async () => {
      const s = (await cfn.send(new DescribeStacksCommand({ StackName: STACK }))).Stacks?.[0];
      if (s?.StackStatus?.endsWith('_FAILED') || s?.StackStatus?.startsWith('ROLLBACK'))
        throw new Error(`${STACK}: ${s.StackStatus} ${s.StackStatusReason ?? ''}`);
      return s?.StackStatus === 'CREATE_COMPLETE' ? s : undefined;
    });
    cfn.destroy();
    outputs = Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  });
  afterAll(async () => {
    await stopEdge();
    process.env = saved;
    rmSync(dataDir, { recursive: true, force: true });
  });

  const poolId = () => outputs.UserPoolId as string;
  const clientId = () => outputs.UserPoolClientId as string;
  const issuer = () => `https://cognito-idp.us-east-1.amazonaws.com/${poolId()}`;

  /** A confirmed user with a permanent password, in `group`, with `account`. */
  async function confirmedUser(username: string, group: string, account: string): Promise<void> {
    await idp.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId(),
        Username: username,
        MessageAction: 'SUPPRESS',
        TemporaryPassword: 'Temporary-Pass-1',
        UserAttributes: [
          { Name: 'email', Value: `${username}@example.com` },
          { Name: 'custom:account', Value: account },
        ],
      }),
    );
    await idp.send(
      new AdminSetUserPasswordCommand({
        UserPoolId: poolId(),
        Username: username,
        Password: PASSWORD,
        Permanent: true,
      }),
    );
    await idp.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId(), Username: username, GroupName: group }));
  }

  const signIn = (username: string, password = PASSWORD, client = clientId()) =>
    idp.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: client,
        AuthParameters: { USERNAME: username, PASSWORD: password },
      }),
    );

  test('CloudFormation created the pool, its clients and groups; the AWS CLI lists them', async () => {
    expect(poolId()).toMatch(/^us-east-1_[0-9A-Za-z]{9}$/);
    expect(outputs.UserPoolProviderUrl).toBe(issuer());
    const pool = (await idp.send(new DescribeUserPoolCommand({ UserPoolId: poolId() }))).UserPool;
    expect(pool?.Name).toBe('trading-users');
    expect(pool?.Policies?.PasswordPolicy?.MinimumLength).toBe(12);
    expect(pool?.SchemaAttributes).toEqual([{ Name: 'custom:account', AttributeDataType: 'String', Mutable: false }]);
    const clients = (await idp.send(new ListUserPoolClientsCommand({ UserPoolId: poolId(), MaxResults: 10 })))
      .UserPoolClients;
    expect(clients?.map((c) => c.ClientId).sort()).toEqual(
      [clientId(), outputs.LegacyClientId, outputs.SrpOnlyClientId, outputs.SecretClientId].sort(),
    );

    const cli = findAwsClis()[0];
    if (!cli) throw new Error('no AWS CLI on this machine (install Debian awscli)');
    const listed = JSON.parse(
      (await runAwsCli(cli, edge.endpoint, ['cognito-idp', 'list-user-pools', '--max-results', '10'], cliEnv())).stdout,
    ) as { UserPools: { Id: string; Name: string }[] };
    expect(listed.UserPools).toContainEqual(expect.objectContaining({ Id: poolId(), Name: 'trading-users' }));
    const users = JSON.parse(
      (await runAwsCli(cli, edge.endpoint, ['cognito-idp', 'list-users', '--user-pool-id', poolId()], cliEnv())).stdout,
    ) as { Users: unknown[] };
    expect(Array.isArray(users.Users)).toBe(true);
  });

  test('a signed-in user gets Cognito-shaped tokens that verify against the served JWKS', async () => {
    await confirmedUser('Trader-A1', 'trader', 'A1');
    const result = (await signIn('trader-a1')).AuthenticationResult; // the pool is not case sensitive
    expect(result).toMatchObject({ TokenType: 'Bearer', ExpiresIn: 3600 });
    const idToken = result?.IdToken as string;
    const header = decodeProtectedHeader(idToken);
    expect(header).toMatchObject({ alg: 'RS256', kid: expect.any(String) });

    // The JWKS as a verifier fetches it: over HTTP, from the edge's path for this pool.
    const jwksUrl = new URL(`${edge.endpoint}/_aws/cognito-idp/${poolId()}/.well-known/jwks.json`);
    const { payload: id } = await jwtVerify(idToken, createRemoteJWKSet(jwksUrl), {
      issuer: issuer(),
      audience: clientId(),
    });
    expect(id).toMatchObject({
      token_use: 'id',
      'cognito:username': 'Trader-A1',
      'cognito:groups': ['trader'],
      'custom:account': 'A1',
      email: 'Trader-A1@example.com',
    });
    expect(id.exp! - id.iat!).toBe(3600);
    expect(Math.abs((id.auth_time as number) - Date.now() / 1000)).toBeLessThan(60);
    const user = await idp.send(new AdminGetUserCommand({ UserPoolId: poolId(), Username: 'Trader-A1' }));
    expect(id.sub).toBe(user.UserAttributes?.find((a) => a.Name === 'sub')?.Value);

    const { payload: access } = await jwtVerify(result?.AccessToken as string, createRemoteJWKSet(jwksUrl), {
      issuer: issuer(),
    });
    expect(access).toMatchObject({
      token_use: 'access',
      client_id: clientId(),
      scope: 'aws.cognito.signin.user.admin',
      username: 'Trader-A1',
      sub: id.sub,
    });
    expect(access.aud).toBeUndefined();

    // What the API Gateway emulation's JWT authorizer uses: the same keys, resolved in-process by issuer.
    const jwks = await edge.cognito.resolveJwks(issuer());
    await expect(jwtVerify(idToken, createLocalJWKSet(jwks!), { issuer: issuer() })).resolves.toBeDefined();
    expect(await edge.cognito.resolveJwks('https://cognito-idp.us-east-1.amazonaws.com/us-east-1_unknown00')).toBe(
      undefined,
    );
  });

  test('a refresh token gets new tokens with the first sign-in’s auth_time; admins sign in through AdminInitiateAuth', async () => {
    await confirmedUser('viewer-a2', 'viewer', 'A2');
    const first = (await signIn('viewer-a2')).AuthenticationResult;
    const refreshed = (
      await idp.send(
        new InitiateAuthCommand({
          AuthFlow: 'REFRESH_TOKEN_AUTH',
          ClientId: clientId(),
          AuthParameters: { REFRESH_TOKEN: first?.RefreshToken as string },
        }),
      )
    ).AuthenticationResult;
    expect(refreshed?.RefreshToken).toBeUndefined();
    const decode = (t: string | undefined) =>
      JSON.parse(Buffer.from(String(t).split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
    expect(decode(refreshed?.IdToken).auth_time).toBe(decode(first?.IdToken).auth_time);
    expect(decode(refreshed?.IdToken).origin_jti).toBe(decode(first?.IdToken).origin_jti);

    const admin = await idp.send(
      new AdminInitiateAuthCommand({
        UserPoolId: poolId(),
        ClientId: clientId(),
        AuthFlow: 'ADMIN_USER_PASSWORD_AUTH',
        AuthParameters: { USERNAME: 'viewer-a2', PASSWORD: PASSWORD },
      }),
    );
    expect(decode(admin.AuthenticationResult?.IdToken)['cognito:groups']).toEqual(['viewer']);

    await idp.send(new AdminDeleteUserCommand({ UserPoolId: poolId(), Username: 'viewer-a2' }));
    await expect(
      idp.send(
        new InitiateAuthCommand({
          AuthFlow: 'REFRESH_TOKEN_AUTH',
          ClientId: clientId(),
          AuthParameters: { REFRESH_TOKEN: first?.RefreshToken as string },
        }),
      ),
    ).rejects.toMatchObject({ name: 'NotAuthorizedException' });
  });

  test('refusals carry Cognito’s error codes', async () => {
    await confirmedUser('refused-a3', 'trader', 'A3');
    await expect(signIn('refused-a3', 'Wrong-Password-99')).rejects.toMatchObject({
      name: 'NotAuthorizedException',
      message: 'Incorrect username or password.',
    });
    // The product's client hides whether a user exists; a LEGACY client says so.
    await expect(signIn('nobody-here')).rejects.toMatchObject({ name: 'NotAuthorizedException' });
    await expect(signIn('nobody-here', PASSWORD, outputs.LegacyClientId)).rejects.toMatchObject({
      name: 'UserNotFoundException',
    });
    await expect(signIn('refused-a3', PASSWORD, outputs.SrpOnlyClientId)).rejects.toMatchObject({
      name: 'InvalidParameterException',
      message: 'USER_PASSWORD_AUTH flow not enabled for this client',
    });
    await expect(
      idp.send(new AdminCreateUserCommand({ UserPoolId: poolId(), Username: 'refused-a3', MessageAction: 'SUPPRESS' })),
    ).rejects.toMatchObject({ name: 'UsernameExistsException' });
    await expect(
      idp.send(
        new AdminCreateUserCommand({
          UserPoolId: poolId(),
          Username: 'bad-attr',
          MessageAction: 'SUPPRESS',
          UserAttributes: [{ Name: 'custom:desk', Value: 'x' }],
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterException', message: expect.stringContaining('custom:desk') });
    await expect(
      idp.send(new AdminSetUserPasswordCommand({ UserPoolId: poolId(), Username: 'refused-a3', Password: 'short' })),
    ).rejects.toMatchObject({ name: 'InvalidPasswordException' });
    await expect(
      idp.send(new AdminAddUserToGroupCommand({ UserPoolId: poolId(), Username: 'refused-a3', GroupName: 'root' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(idp.send(new AdminGetUserCommand({ UserPoolId: poolId(), Username: 'ghost' }))).rejects.toMatchObject({
      name: 'UserNotFoundException',
    });
    await expect(idp.send(new DescribeUserPoolCommand({ UserPoolId: 'us-east-1_doesnotex' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    await expect(signIn('refused-a3', PASSWORD, 'nosuchclient0000000000000')).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  test('a client with a secret requires SECRET_HASH, as Cognito does', async () => {
    await confirmedUser('secret-a5', 'viewer', 'A5');
    const client = outputs.SecretClientId as string;
    const { UserPoolClient } = await idp.send(
      new DescribeUserPoolClientCommand({ UserPoolId: poolId(), ClientId: client }),
    );
    const secret = UserPoolClient?.ClientSecret as string;
    expect(secret.length).toBeGreaterThan(40);
    await expect(signIn('secret-a5', PASSWORD, client)).rejects.toMatchObject({ name: 'NotAuthorizedException' });
    const hash = createHmac('sha256', secret).update(`secret-a5${client}`).digest('base64');
    const out = await idp.send(
      new InitiateAuthCommand({
        AuthFlow: 'USER_PASSWORD_AUTH',
        ClientId: client,
        AuthParameters: { USERNAME: 'secret-a5', PASSWORD, SECRET_HASH: hash },
      }),
    );
    expect(out.AuthenticationResult?.IdToken).toBeDefined();
  });

  test('a user with only a temporary password is challenged, not given tokens', async () => {
    await idp.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId(),
        Username: 'new-a4',
        MessageAction: 'SUPPRESS',
        TemporaryPassword: 'Temporary-Pass-4',
        UserAttributes: [{ Name: 'custom:account', Value: 'A4' }],
      }),
    );
    const user = await idp.send(new AdminGetUserCommand({ UserPoolId: poolId(), Username: 'new-a4' }));
    expect(user.UserStatus).toBe('FORCE_CHANGE_PASSWORD');
    const out = await signIn('new-a4', 'Temporary-Pass-4');
    expect(out.ChallengeName).toBe('NEW_PASSWORD_REQUIRED');
    expect(out.AuthenticationResult).toBeUndefined();
    const listed = await idp.send(
      new ListUsersCommand({ UserPoolId: poolId(), Filter: 'username = "new-a4"', Limit: 10 }),
    );
    expect(listed.Users?.map((u) => u.Username)).toEqual(['new-a4']);
  });

  test('passwords are stored as scrypt hashes in an owner-only file; keys and users survive a restart', async () => {
    const stateFile = join(dataDir, 'cognito.json');
    const text = readFileSync(stateFile, 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(text).toContain('scrypt$');
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);

    const before = (await signIn('trader-a1')).AuthenticationResult?.IdToken as string;
    await stopEdge();
    await startOnDataDir();
    const jwksUrl = new URL(`${edge.endpoint}/_aws/cognito-idp/${poolId()}/.well-known/jwks.json`);
    // A token issued before the restart still verifies against the keys served after it.
    await expect(jwtVerify(before, createRemoteJWKSet(jwksUrl), { issuer: issuer() })).resolves.toBeDefined();
    const after = (await signIn('trader-a1')).AuthenticationResult?.IdToken as string;
    expect(decodeProtectedHeader(after).kid).toBe(decodeProtectedHeader(before).kid);
    // The Host-named path (a client resolving cognito-idp.* to the edge) serves the same keys.
    const byHost = await getWithHost(
      `${edge.endpoint}/${poolId()}/.well-known/jwks.json`,
      'cognito-idp.us-east-1.amazonaws.com',
    );
    expect(byHost.status).toBe(200);
    expect(JSON.parse(byHost.body)).toEqual(await (await fetch(jwksUrl)).json());
    expect((await getWithHost(`${edge.endpoint}/${poolId()}/.well-known/jwks.json`, 'localhost')).status).toBe(400);
    const unknown = await fetch(`${edge.endpoint}/_aws/cognito-idp/us-east-1_nopool000/.well-known/jwks.json`);
    expect(unknown.status).toBe(404);
  });

  test('deleting the stack deletes the pool', async () => {
    const cfn = new CloudFormationClient({});
    await cfn.send(new DeleteStackCommand({ StackName: STACK }));
    await waitFor(`${STACK} to be deleted`, 30_000, async () => {
      const stacks = await cfn.send(new DescribeStacksCommand({ StackName: STACK })).catch(() => ({ Stacks: [] }));
      return (stacks.Stacks ?? []).every((s) => s.StackStatus === 'DELETE_COMPLETE');
    });
    cfn.destroy();
    await expect(idp.send(new DescribeUserPoolCommand({ UserPoolId: poolId() }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });
});
