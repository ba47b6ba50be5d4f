import { randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { JsonServiceError } from '../edge/json-service';
import { StateFile } from '../state-file';
import { LOCAL_ACCOUNT } from '../sts';
import { newSigningKey, type SigningKey } from './tokens';

/**
 * The local user pools' state: pools, app clients, groups, users (passwords as scrypt hashes), refresh tokens (as
 * SHA-256 digests) and each pool's signing key, kept in `<dataDir>/cognito.json` (mode 0600) so users, keys and
 * the tokens already handed out survive a restart of the embedded cloud.
 */

export type UserStatus = 'FORCE_CHANGE_PASSWORD' | 'CONFIRMED';

export interface PasswordPolicy {
  MinimumLength: number;
  RequireUppercase: boolean;
  RequireLowercase: boolean;
  RequireNumbers: boolean;
  RequireSymbols: boolean;
}

export interface UserRecord {
  Username: string;
  sub: string;
  /** Every attribute but sub (email, custom:account, …). */
  attributes: Record<string, string>;
  status: UserStatus;
  enabled: boolean;
  /** `scrypt$<salt b64>$<hash b64>`; the password itself is never stored or logged. */
  passwordHash: string;
  groups: string[];
  created: number;
  modified: number;
}

export interface ClientRecord {
  ClientId: string;
  ClientName: string;
  ClientSecret?: string;
  ExplicitAuthFlows: string[];
  PreventUserExistenceErrors: 'ENABLED' | 'LEGACY';
  idTokenSeconds: number;
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  created: number;
  /** `<stack>/<logicalId>` when CloudFormation created it. */
  cfnKey?: string;
}

export interface GroupRecord {
  GroupName: string;
  Description?: string;
  Precedence?: number;
  created: number;
}

export interface RefreshRecord {
  username: string;
  clientId: string;
  expires: number;
  authTime: number;
  originJti: string;
}

export interface PoolRecord {
  Id: string;
  Name: string;
  created: number;
  modified: number;
  /** `<stack>/<logicalId>` when CloudFormation created it: a redeploy updates this pool instead of adding one. */
  cfnKey?: string;
  policy: PasswordPolicy;
  /** Declared custom attributes (without the `custom:` prefix) and whether they may change after creation. */
  customAttributes: Record<string, { mutable: boolean }>;
  caseSensitive: boolean;
  /** As the template says; no sign-up API is emulated, so users come from admins either way. */
  adminCreateUserOnly: boolean;
  /** As the template says; MFA is not enforced locally (docs/local-cloud.md). */
  mfaConfiguration: string;
  clients: Record<string, ClientRecord>;
  groups: Record<string, GroupRecord>;
  /** By username (lower-cased when the pool is not case sensitive). */
  users: Record<string, UserRecord>;
  refreshTokens: Record<string, RefreshRecord>;
  key: SigningKey;
}

interface State {
  pools: Record<string, PoolRecord>;
}

/** Cognito's defaults for a pool created without a password policy. */
export const DEFAULT_POLICY: PasswordPolicy = {
  MinimumLength: 8,
  RequireUppercase: true,
  RequireLowercase: true,
  RequireNumbers: true,
  RequireSymbols: true,
};

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** scrypt with Node's defaults (N=16384, r=8, p=1): slow enough to make a stolen state file costly to attack. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${(await scryptAsync(password, salt, 32)).toString('base64')}`;
}

export async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

/** The symbols Cognito's password policy counts (its documented set). */
const SYMBOLS = /[\^$*.[\]{}()?"!@#%&/\\,><':;|_~`=+\- ]/;

/** Refuses a password the pool's policy does not allow, with Cognito's code and wording. */
export function checkPasswordPolicy(password: string, policy: PasswordPolicy): void {
  const problems = [
    password.length < policy.MinimumLength && 'Password not long enough',
    policy.RequireUppercase && !/[A-Z]/.test(password) && 'Password must have uppercase characters',
    policy.RequireLowercase && !/[a-z]/.test(password) && 'Password must have lowercase characters',
    policy.RequireNumbers && !/[0-9]/.test(password) && 'Password must have numeric characters',
    policy.RequireSymbols && !SYMBOLS.test(password) && 'Password must have symbol characters',
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0)
    throw new JsonServiceError('InvalidPasswordException', `Password does not conform to policy: ${problems[0]}`);
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomChars = (n: number, alphabet: string) =>
  [...randomBytes(n)].map((b) => alphabet[b % alphabet.length]).join('');

/** Ids shaped like Cognito's: `<region>_<9 letters/digits>` for pools, 26 lower-case letters/digits for clients. */
export const regionOfPool = (poolId: string) => poolId.slice(0, poolId.indexOf('_'));
export const poolArn = (poolId: string) =>
  `arn:aws:cognito-idp:${regionOfPool(poolId)}:${LOCAL_ACCOUNT}:userpool/${poolId}`;
export const newPoolId = (region: string) => `${region}_${randomChars(9, ALNUM)}`;
export const newClientId = () => randomChars(26, 'abcdefghijklmnopqrstuvwxyz0123456789');

export class CognitoState {
  private readonly file: StateFile<State>;
  readonly pools: Map<string, PoolRecord>;

  constructor(path: string | undefined) {
    // Owner-only: the file holds the pools' private signing keys and the password hashes.
    this.file = new StateFile(path, () => ({ pools: {} }), { mode: 0o600 });
    this.pools = new Map(Object.entries(this.file.load().pools));
  }

  save(): void {
    this.file.save({ pools: Object.fromEntries(this.pools) });
  }

  pool(id: string): PoolRecord {
    const pool = this.pools.get(id);
    if (!pool) throw new JsonServiceError('ResourceNotFoundException', `User pool ${id} does not exist.`);
    return pool;
  }

  /** The pool and client of a client id (InitiateAuth names only the client). */
  client(clientId: string, poolId?: string): { pool: PoolRecord; client: ClientRecord } {
    for (const pool of poolId ? [this.pool(poolId)] : this.pools.values()) {
      const client = pool.clients[clientId];
      if (client) return { pool, client };
    }
    throw new JsonServiceError('ResourceNotFoundException', `User pool client ${clientId} does not exist.`);
  }

  createPool(
    region: string,
    fields: Omit<PoolRecord, 'Id' | 'created' | 'modified' | 'key' | 'clients' | 'groups' | 'users' | 'refreshTokens'>,
  ): PoolRecord {
    const now = Date.now() / 1000;
    const pool: PoolRecord = {
      ...fields,
      Id: newPoolId(region),
      created: now,
      modified: now,
      clients: {},
      groups: {},
      users: {},
      refreshTokens: {},
      key: newSigningKey(),
    };
    this.pools.set(pool.Id, pool);
    return pool;
  }

  userKey(pool: PoolRecord, username: string): string {
    return pool.caseSensitive ? username : username.toLowerCase();
  }

  findUser(pool: PoolRecord, username: string): UserRecord | undefined {
    return pool.users[this.userKey(pool, username)];
  }

  user(pool: PoolRecord, username: string): UserRecord {
    const user = this.findUser(pool, username);
    if (!user) throw new JsonServiceError('UserNotFoundException', 'User does not exist.');
    return user;
  }

  newUser(pool: PoolRecord, username: string, attributes: Record<string, string>, passwordHash: string): UserRecord {
    const now = Date.now() / 1000;
    const user: UserRecord = {
      Username: username,
      sub: randomUUID(),
      attributes,
      status: 'FORCE_CHANGE_PASSWORD',
      enabled: true,
      passwordHash,
      groups: [],
      created: now,
      modified: now,
    };
    pool.users[this.userKey(pool, username)] = user;
    return user;
  }
}
