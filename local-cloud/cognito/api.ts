import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { JsonServiceError, parseInput, type JsonService } from '../edge/json-service';
import { authenticate } from './auth';
import { poolIdOfIssuer, publicJwks } from './tokens';
import type { JSONWebKeySet } from 'jose';
import { checkPasswordPolicy, CognitoState, hashPassword, poolArn, type PoolRecord, type UserRecord } from './store';

export const COGNITO_TARGET_PREFIX = 'AWSCognitoIdentityProviderService';

/** The error code AWS answers a malformed Cognito request with. */
const INVALID = 'InvalidParameterException';
const invalid = (message: string) => new JsonServiceError(INVALID, message);

const POOL_ID = z.string().regex(/^[\w-]+_[0-9a-zA-Z]+$/, 'a user pool id is <region>_<id>');
const USERNAME = z.string().min(1).max(128);
const ATTRIBUTES = z.array(z.object({ Name: z.string().min(1).max(32), Value: z.string().max(2048) })).max(50);
const PoolInput = z.object({ UserPoolId: POOL_ID });
const UserInput = PoolInput.extend({ Username: USERNAME });
const CreateUserInput = UserInput.extend({
  UserAttributes: ATTRIBUTES.optional(),
  TemporaryPassword: z.string().min(1).max(256).optional(),
  MessageAction: z.enum(['SUPPRESS', 'RESEND']).optional(),
  DesiredDeliveryMediums: z.array(z.enum(['SMS', 'EMAIL'])).optional(),
});
const SetPasswordInput = UserInput.extend({ Password: z.string().min(1).max(256), Permanent: z.boolean().optional() });
const GroupMemberInput = UserInput.extend({ GroupName: z.string().min(1).max(128) });
const PageInput = z.object({ MaxResults: z.number().int().min(1).max(60), NextToken: z.string().optional() });
const ListUsersInput = PoolInput.extend({
  Limit: z.number().int().min(0).max(60).optional(),
  PaginationToken: z.string().optional(),
  Filter: z.string().max(256).optional(),
  AttributesToGet: z.array(z.string()).optional(),
});
const AuthParameters = z.record(z.string(), z.string());
const InitiateAuthInput = z.object({ AuthFlow: z.string().min(1), ClientId: z.string().min(1), AuthParameters });
const AdminInitiateAuthInput = InitiateAuthInput.extend({ UserPoolId: POOL_ID });

/** Standard attributes a pool always has (Cognito's list); any other name must be a declared `custom:` one. */
const STANDARD_ATTRIBUTES = new Set(
  'address birthdate email email_verified family_name gender given_name locale middle_name name nickname phone_number phone_number_verified picture preferred_username profile updated_at website zoneinfo'.split(
    ' ',
  ),
);

/** One page of `items` from the offset in `token`. */
function page<T>(items: T[], limit: number, token: string | undefined): { items: T[]; next?: string } {
  const start = token ? Number(Buffer.from(token, 'base64url').toString()) : 0;
  if (!Number.isInteger(start) || start < 0) throw invalid('Invalid pagination token');
  const end = start + limit;
  return {
    items: items.slice(start, end),
    ...(end < items.length ? { next: Buffer.from(String(end)).toString('base64url') } : {}),
  };
}

/** What AdminGetUser and ListUsers say of a user. */
function describeUser(user: UserRecord, only?: string[]) {
  const attributes = [
    { Name: 'sub', Value: user.sub },
    ...Object.entries(user.attributes).map(([Name, Value]) => ({ Name, Value })),
  ];
  return {
    Username: user.Username,
    Attributes: only ? attributes.filter((a) => only.includes(a.Name)) : attributes,
    UserCreateDate: user.created,
    UserLastModifiedDate: user.modified,
    Enabled: user.enabled,
    UserStatus: user.status,
  };
}

/** ListUsers' Filter: `name = "value"` or `name ^= "prefix"` (Cognito's two operators). */
function userFilter(filter: string | undefined): (u: UserRecord) => boolean {
  if (!filter) return () => true;
  const m = /^\s*([\w:]+)\s*(\^?=)\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(filter);
  if (!m) throw invalid(`Invalid filter: ${filter} (expected attribute = "value" or attribute ^= "prefix")`);
  const [, name = '', op, value = ''] = m;
  return (u) => {
    const actual =
      name === 'username' ? u.Username : name === 'sub' ? u.sub : name === 'status' ? u.status : u.attributes[name];
    return actual !== undefined && (op === '=' ? actual === value : actual.startsWith(value));
  };
}

/**
 * The Cognito user pool API (JSON 1.1, X-Amz-Target `AWSCognitoIdentityProviderService.<Action>`) for what the
 * product and its tools use: admins create users and put them in groups, users sign in with a password (or a
 * refresh token) and get Cognito-shaped tokens. Pools, clients and groups come from CloudFormation (resources.ts).
 */
export class CognitoIdp implements JsonService {
  readonly targetPrefix = COGNITO_TARGET_PREFIX;
  readonly maxRequestBytes = 64 * 1024;

  readonly state: CognitoState;

  /** `statePath`: where pools, users and keys are kept (in memory when undefined). */
  constructor(statePath: string | undefined) {
    this.state = new CognitoState(statePath);
  }

  /**
   * The public keys of the local pool an issuer names (`https://cognito-idp.<region>.amazonaws.com/<poolId>`), or
   * undefined when it is none of this cloud's pools: what the API Gateway emulation's JWT authorizer verifies with.
   */
  readonly resolveJwks = async (issuer: string): Promise<JSONWebKeySet | undefined> =>
    this.jwks(poolIdOfIssuer(issuer));

  /** A pool's JWKS, as served at its `.well-known/jwks.json`. */
  jwks(poolId: string | undefined): JSONWebKeySet | undefined {
    const pool = poolId ? this.state.pools.get(poolId) : undefined;
    return pool ? publicJwks([pool.key]) : undefined;
  }

  async handle(action: string, body: unknown): Promise<unknown> {
    switch (action) {
      case 'AdminCreateUser':
        return this.adminCreateUser(parseInput(CreateUserInput, body, INVALID));
      case 'AdminSetUserPassword':
        return this.adminSetUserPassword(parseInput(SetPasswordInput, body, INVALID));
      case 'AdminAddUserToGroup':
      case 'AdminRemoveUserFromGroup':
        return this.groupMembership(parseInput(GroupMemberInput, body, INVALID), action === 'AdminAddUserToGroup');
      case 'AdminGetUser': {
        const { UserPoolId, Username } = parseInput(UserInput, body, INVALID);
        const pool = this.state.pool(UserPoolId);
        const { Attributes, ...rest } = describeUser(this.state.user(pool, Username));
        return { ...rest, UserAttributes: Attributes };
      }
      case 'AdminDeleteUser':
        return this.adminDeleteUser(parseInput(UserInput, body, INVALID));
      case 'ListUsers':
        return this.listUsers(parseInput(ListUsersInput, body, INVALID));
      case 'InitiateAuth': {
        const input = parseInput(InitiateAuthInput, body, INVALID);
        return authenticate(this.state, {
          flow: input.AuthFlow,
          clientId: input.ClientId,
          params: input.AuthParameters,
          admin: false,
        });
      }
      case 'AdminInitiateAuth': {
        const input = parseInput(AdminInitiateAuthInput, body, INVALID);
        return authenticate(this.state, {
          flow: input.AuthFlow,
          clientId: input.ClientId,
          poolId: input.UserPoolId,
          params: input.AuthParameters,
          admin: true,
        });
      }
      case 'DescribeUserPool':
        return { UserPool: this.describePool(this.state.pool(parseInput(PoolInput, body, INVALID).UserPoolId)) };
      case 'ListUserPools':
        return this.listUserPools(parseInput(PageInput, body, INVALID));
      case 'ListUserPoolClients':
      case 'DescribeUserPoolClient':
        return this.clients(action, body);
      default:
        throw new JsonServiceError(
          'InvalidAction',
          `Cognito action ${action} is not emulated locally (see docs/local-cloud.md for the ones that are)`,
        );
    }
  }

  /** The user's attributes after Cognito's schema check: standard names or declared `custom:` ones. */
  private attributes(pool: PoolRecord, given: { Name: string; Value: string }[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const { Name, Value } of given) {
      const custom = Name.startsWith('custom:') ? Name.slice('custom:'.length) : undefined;
      if (
        Name === 'sub' ||
        (custom === undefined ? !STANDARD_ATTRIBUTES.has(Name) : !(custom in pool.customAttributes))
      )
        throw invalid(`Attributes did not conform to the schema: ${Name}: Attribute does not exist in the schema.`);
      out[Name] = Value;
    }
    return out;
  }

  private async adminCreateUser(input: z.infer<typeof CreateUserInput>) {
    const pool = this.state.pool(input.UserPoolId);
    const existing = this.state.findUser(pool, input.Username);
    if (input.MessageAction === 'RESEND') {
      if (!existing) throw new JsonServiceError('UserNotFoundException', 'User does not exist.');
      return { User: describeUser(existing) };
    }
    if (existing) throw new JsonServiceError('UsernameExistsException', 'User account already exists');
    const attributes = this.attributes(pool, input.UserAttributes ?? []);
    // Without a temporary password Cognito makes one (and would send it; nothing is sent locally).
    const temporary = input.TemporaryPassword ?? `${randomBytes(12).toString('base64url')}Aa1!`;
    checkPasswordPolicy(temporary, pool.policy);
    const user = this.state.newUser(pool, input.Username, attributes, await hashPassword(temporary));
    this.state.save();
    return { User: describeUser(user) };
  }

  private async adminSetUserPassword(input: z.infer<typeof SetPasswordInput>) {
    const pool = this.state.pool(input.UserPoolId);
    const user = this.state.user(pool, input.Username);
    checkPasswordPolicy(input.Password, pool.policy);
    user.passwordHash = await hashPassword(input.Password);
    user.status = input.Permanent ? 'CONFIRMED' : 'FORCE_CHANGE_PASSWORD';
    user.modified = Date.now() / 1000;
    this.state.save();
    return {};
  }

  private groupMembership(input: z.infer<typeof GroupMemberInput>, add: boolean) {
    const pool = this.state.pool(input.UserPoolId);
    if (!pool.groups[input.GroupName]) throw new JsonServiceError('ResourceNotFoundException', 'Group not found.');
    const user = this.state.user(pool, input.Username);
    const others = user.groups.filter((g) => g !== input.GroupName);
    user.groups = add ? [...others, input.GroupName] : others;
    this.state.save();
    return {};
  }

  private adminDeleteUser(input: z.infer<typeof UserInput>) {
    const pool = this.state.pool(input.UserPoolId);
    const user = this.state.user(pool, input.Username);
    delete pool.users[this.state.userKey(pool, input.Username)];
    // Its refresh tokens die with it, as on Cognito.
    for (const [digest, r] of Object.entries(pool.refreshTokens))
      if (r.username === user.Username) delete pool.refreshTokens[digest];
    this.state.save();
    return {};
  }

  private listUsers(input: z.infer<typeof ListUsersInput>) {
    const pool = this.state.pool(input.UserPoolId);
    const users = Object.values(pool.users).filter(userFilter(input.Filter));
    const { items, next } = page(users, input.Limit || 60, input.PaginationToken);
    return {
      Users: items.map((u) => describeUser(u, input.AttributesToGet)),
      ...(next ? { PaginationToken: next } : {}),
    };
  }

  private listUserPools(input: z.infer<typeof PageInput>) {
    const pools = [...this.state.pools.values()];
    const { items, next } = page(pools, input.MaxResults, input.NextToken);
    return {
      UserPools: items.map((p) => ({ Id: p.Id, Name: p.Name, CreationDate: p.created, LastModifiedDate: p.modified })),
      ...(next ? { NextToken: next } : {}),
    };
  }

  private clients(action: string, body: unknown) {
    if (action === 'DescribeUserPoolClient') {
      const { UserPoolId, ClientId } = parseInput(PoolInput.extend({ ClientId: z.string().min(1) }), body, INVALID);
      const { client } = this.state.client(ClientId, UserPoolId);
      const { idTokenSeconds, accessTokenSeconds, refreshTokenSeconds, created, cfnKey: _cfn, ...fields } = client;
      return {
        UserPoolClient: {
          ...fields,
          UserPoolId,
          CreationDate: created,
          LastModifiedDate: created,
          IdTokenValidity: idTokenSeconds / 60,
          AccessTokenValidity: accessTokenSeconds / 60,
          RefreshTokenValidity: refreshTokenSeconds / 60,
          TokenValidityUnits: { IdToken: 'minutes', AccessToken: 'minutes', RefreshToken: 'minutes' },
        },
      };
    }
    const input = parseInput(
      PoolInput.extend({ MaxResults: z.number().int().min(1).max(60).optional(), NextToken: z.string().optional() }),
      body,
      INVALID,
    );
    const pool = this.state.pool(input.UserPoolId);
    const { items, next } = page(Object.values(pool.clients), input.MaxResults ?? 60, input.NextToken);
    return {
      UserPoolClients: items.map((c) => ({ ClientId: c.ClientId, UserPoolId: pool.Id, ClientName: c.ClientName })),
      ...(next ? { NextToken: next } : {}),
    };
  }

  private describePool(pool: PoolRecord) {
    return {
      Id: pool.Id,
      Name: pool.Name,
      Arn: poolArn(pool.Id),
      CreationDate: pool.created,
      LastModifiedDate: pool.modified,
      Policies: { PasswordPolicy: pool.policy },
      SchemaAttributes: Object.entries(pool.customAttributes).map(([name, { mutable }]) => ({
        Name: `custom:${name}`,
        AttributeDataType: 'String',
        Mutable: mutable,
      })),
      UsernameConfiguration: { CaseSensitive: pool.caseSensitive },
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: pool.adminCreateUserOnly },
      EstimatedNumberOfUsers: Object.keys(pool.users).length,
      MfaConfiguration: pool.mfaConfiguration,
    };
  }
}
