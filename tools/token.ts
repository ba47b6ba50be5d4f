/**
 * `npm run token -- key <scope>` | `npm run token -- mint <scope> [--ttl SECONDS]`
 * `npm run token -- --role <admin|trader|viewer> --account <A> [--print id|access|all] [--target …]`
 *
 * The one mint path for Raft ledger client credentials, from RAFT_AUTH_SECRET (the cluster's root secret):
 *   key <scope>   prints a scoped key (RAFT_CLIENT_KEY) for a function or service: it mints tokens of that
 *                 scope only, and never expires by itself (it dies with the root secret it was derived from).
 *   mint <scope>  prints one bearer token of that scope, for curl and ad-hoc operator work (default 300 s,
 *                 at most the nodes' limit of 3600 s).
 * Scopes: orders:write (place orders), read (every GET), admin (members, halt/resume, limits).
 *
 * And a trading API user's token, from the stack's Cognito user pool (tools/lib/user-token.ts): the user for that
 * role and account is created or updated through Cognito's own API and signed in; its ID token (what the HTTP API's
 * JWT authorizer takes) is printed. The same call works on the embedded cloud, LocalStack and AWS.
 */
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { z } from 'zod';
import { ROLES } from '../shared/auth/principal';
import {
  DEFAULT_TOKEN_TTL_S,
  encodeScopedKey,
  MAX_TOKEN_TTL_S,
  mintToken,
  SCOPES,
  scopedKey,
} from '../shared/ledger-contract/auth';
import { defineCommand, parseEnv, runCommand } from '../shared/process/cli';
import { userToken } from './lib/user-token';
import { openEmbeddedStack } from './targets/embedded-stack';
import { parseTarget, resolveDeployedStack, TARGET_ARGS, TargetError } from './targets/deployed-stack';

const PRINTS = ['id', 'access', 'all'] as const;

const command = defineCommand({
  name: 'npm run token',
  usage: `usage: npm run token -- key <scope>            print RAFT_CLIENT_KEY for one scope
       npm run token -- mint <scope> [--ttl S]   print a bearer token (default ${DEFAULT_TOKEN_TTL_S} s, max ${MAX_TOKEN_TTL_S} s)
scopes: ${SCOPES.join(', ')}; reads RAFT_AUTH_SECRET from the environment.

       npm run token -- --role R --account A [--print id] [--target embedded] [--data-dir .data]
print a trading API token for a user of role R (${ROLES.join(', ')}) on account A, from the stack's Cognito user
pool: the user (R-A, or --username) is created if missing, put in group R, given a new random password and signed
in (USER_PASSWORD_AUTH). Send it as "Authorization: <token>".
  --print id|access|all      the ID token (default: what the API takes), the access token, or all as JSON
  --username NAME            the user to sign in as (default <role>-<account>)
  --data-dir DIR             the embedded stack's data dir (default .data)
  USER_PASSWORD=…            (environment) set this password instead of a random one, to sign in to the web
                             console with it (kept out of the command line, where other users could read it)
${TARGET_ARGS.usage}
On AWS the caller needs cognito-idp:AdminGetUser, AdminCreateUser, AdminAddUserToGroup, AdminSetUserPassword.`,
  positionals: ['action', 'scope'],
  options: {
    ttl: { type: 'string', default: String(DEFAULT_TOKEN_TTL_S) },
    role: { type: 'string' },
    account: { type: 'string' },
    username: { type: 'string' },
    print: { type: 'string', default: 'id' },
    'data-dir': { type: 'string', default: '.data' },
    ...TARGET_ARGS.options,
  },
  schema: z
    .object({
      action: z.enum(['key', 'mint'], { error: 'expected key or mint' }).optional(),
      scope: z.enum(SCOPES, { error: `expected one of ${SCOPES.join(', ')}` }).optional(),
      ttl: z.coerce.number().int().min(1).max(MAX_TOKEN_TTL_S),
      role: z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` }).optional(),
      account: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an account is 1–64 letters, digits, _ . or -')
        .optional(),
      username: z.string().min(1).max(128).optional(),
      print: z.enum(PRINTS, { error: `expected one of ${PRINTS.join(', ')}` }),
      'data-dir': z.string().min(1),
      ...TARGET_ARGS.shape,
    })
    .superRefine((v, ctx) => {
      const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      if (v.role !== undefined || v.account !== undefined) {
        if (v.role === undefined) issue('role', `required with --account (${ROLES.join(', ')})`);
        if (v.account === undefined) issue('account', 'required with --role');
        if (v.action !== undefined) issue('action', 'not with --role/--account');
      } else {
        if (v.action === undefined) issue('action', 'expected key or mint, or --role and --account for a user token');
        else if (v.scope === undefined) issue('scope', `expected one of ${SCOPES.join(', ')}`);
      }
    }),
});

type Options = ReturnType<typeof command.parse>;

const EnvSchema = z.object({
  RAFT_AUTH_SECRET: z.string({ error: 'required (the cluster root secret)' }).min(16, 'must be at least 16 characters'),
});

/** The user pool and app client of the target: flags/env first, then the embedded stack.json or the stack's outputs. */
async function userPoolOf(opts: Options): Promise<{ poolId: string; clientId: string }> {
  const target = parseTarget(opts.target);
  const flag = (name: string) => {
    const value = (opts as Readonly<Record<string, unknown>>)[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const flagged = {
    poolId: flag('user-pool-id') ?? process.env.USER_POOL_ID,
    clientId: flag('user-pool-client-id') ?? process.env.USER_POOL_CLIENT_ID,
  };
  if (target === 'embedded') {
    const info = openEmbeddedStack(opts['data-dir'], (m) => new TargetError(m));
    const poolId = flagged.poolId ?? info.outputs.UserPoolId;
    const clientId = flagged.clientId ?? info.outputs.UserPoolClientId;
    if (!poolId || !clientId)
      throw new TargetError(
        `the embedded stack in ${opts['data-dir']} has no UserPoolId/UserPoolClientId output; restart it (npm start) to deploy the user pool`,
      );
    return { poolId, clientId };
  }
  const stack = await resolveDeployedStack(target, opts, ['UserPoolId', 'UserPoolClientId']);
  return { poolId: stack.outputs.UserPoolId as string, clientId: stack.outputs.UserPoolClientId as string };
}

async function printUserToken(opts: Options): Promise<void> {
  const { poolId, clientId } = await userPoolOf(opts);
  const cognito = new CognitoIdentityProviderClient({});
  try {
    const result = await userToken(
      cognito,
      {
        poolId,
        clientId,
        role: opts.role!,
        account: opts.account!,
        ...(opts.username ? { username: opts.username } : {}),
        ...(process.env.USER_PASSWORD ? { password: process.env.USER_PASSWORD } : {}),
      },
      (line) => process.stderr.write(`${line}\n`),
    );
    const { IdToken, AccessToken, RefreshToken, ExpiresIn } = result;
    const text =
      opts.print === 'id'
        ? IdToken
        : opts.print === 'access'
          ? AccessToken
          : JSON.stringify({ IdToken, AccessToken, RefreshToken, ExpiresIn }, null, 2);
    process.stdout.write(`${text}\n`);
  } finally {
    cognito.destroy();
  }
}

if (require.main === module)
  runCommand(command, async ({ argv }) => {
    const opts = command.parse(argv);
    if (opts.role !== undefined) return printUserToken(opts);
    const key = scopedKey(parseEnv(EnvSchema).RAFT_AUTH_SECRET, opts.scope!);
    process.stdout.write(`${opts.action === 'key' ? encodeScopedKey(key) : mintToken(key, opts.ttl)}\n`);
  });
