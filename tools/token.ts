/**
 * `npm run token -- key <scope>` | `npm run token -- mint <scope> [--ttl SECONDS]`
 *
 * The one mint path for Raft ledger client credentials, from RAFT_AUTH_SECRET (the cluster's root secret):
 *   key <scope>   prints a scoped key (RAFT_CLIENT_KEY) for a function or service: it mints tokens of that
 *                 scope only, and never expires by itself (it dies with the root secret it was derived from).
 *   mint <scope>  prints one bearer token of that scope, for curl and ad-hoc operator work (default 300 s,
 *                 at most the nodes' limit of 3600 s).
 * Scopes: orders:write (place orders), read (every GET), admin (members, halt/resume, limits).
 */
import { z } from 'zod';
import {
  DEFAULT_TOKEN_TTL_S,
  encodeScopedKey,
  MAX_TOKEN_TTL_S,
  mintToken,
  SCOPES,
  scopedKey,
} from '../shared/ledger-contract/auth';
import { defineCommand, parseEnv, runCommand } from '../shared/process/cli';

const command = defineCommand({
  name: 'npm run token',
  usage: `usage: npm run token -- key <scope>            print RAFT_CLIENT_KEY for one scope
       npm run token -- mint <scope> [--ttl S]   print a bearer token (default ${DEFAULT_TOKEN_TTL_S} s, max ${MAX_TOKEN_TTL_S} s)
scopes: ${SCOPES.join(', ')}; reads RAFT_AUTH_SECRET from the environment.`,
  positionals: ['action', 'scope'],
  options: { ttl: { type: 'string', default: String(DEFAULT_TOKEN_TTL_S) } },
  schema: z.object({
    action: z.enum(['key', 'mint'], { error: 'expected key or mint' }),
    scope: z.enum(SCOPES, { error: `expected one of ${SCOPES.join(', ')}` }),
    ttl: z.coerce.number().int().min(1).max(MAX_TOKEN_TTL_S),
  }),
});

const EnvSchema = z.object({
  RAFT_AUTH_SECRET: z.string({ error: 'required (the cluster root secret)' }).min(16, 'must be at least 16 characters'),
});

if (require.main === module)
  runCommand(command, async ({ argv }) => {
    const opts = command.parse(argv);
    const key = scopedKey(parseEnv(EnvSchema).RAFT_AUTH_SECRET, opts.scope);
    process.stdout.write(`${opts.action === 'key' ? encodeScopedKey(key) : mintToken(key, opts.ttl)}\n`);
  });
