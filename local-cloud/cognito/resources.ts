import { randomBytes } from 'node:crypto';
import { DEFAULT_POLICY, newClientId, poolArn, type CognitoState, type PasswordPolicy, type PoolRecord } from './store';
import { issuerOf } from './tokens';

/**
 * AWS::Cognito::UserPool, ::UserPoolClient and ::UserPoolGroup as the deploy engine creates them from a template
 * (properties already resolved). Idempotent per stack and logical id: deploying again updates what is there and
 * keeps its users, keys and ids, as a CloudFormation update does.
 */

type Props = Record<string, unknown>;
export interface CreatedResource {
  ref: string;
  attrs: Record<string, string>;
}

const bool = (v: unknown, fallback: boolean) => (v === undefined ? fallback : v === true || v === 'true');

function passwordPolicy(props: Props): PasswordPolicy {
  const p = ((props.Policies as Props | undefined)?.PasswordPolicy ?? {}) as Props;
  return {
    MinimumLength: Number(p.MinimumLength ?? DEFAULT_POLICY.MinimumLength),
    RequireUppercase: bool(p.RequireUppercase, DEFAULT_POLICY.RequireUppercase),
    RequireLowercase: bool(p.RequireLowercase, DEFAULT_POLICY.RequireLowercase),
    RequireNumbers: bool(p.RequireNumbers, DEFAULT_POLICY.RequireNumbers),
    RequireSymbols: bool(p.RequireSymbols, DEFAULT_POLICY.RequireSymbols),
  };
}

/** Custom attributes of the Schema property (names without `custom:`); standard ones need nothing locally. */
function customAttributes(props: Props): PoolRecord['customAttributes'] {
  const out: PoolRecord['customAttributes'] = {};
  for (const a of (props.Schema as Props[] | undefined) ?? []) {
    const name = String(a.Name ?? '');
    if (a.AttributeDataType !== undefined && a.AttributeDataType !== 'String')
      throw new Error(`user pool attribute ${name}: only String attributes are emulated locally`);
    if (name) out[name.replace(/^custom:/, '')] = { mutable: bool(a.Mutable, true) };
  }
  return out;
}

export function ensureUserPool(state: CognitoState, cfnKey: string, region: string, props: Props): CreatedResource {
  const fields = {
    Name: String(props.UserPoolName ?? cfnKey.replace('/', '-')),
    cfnKey,
    policy: passwordPolicy(props),
    customAttributes: customAttributes(props),
    caseSensitive: bool((props.UsernameConfiguration as Props | undefined)?.CaseSensitive, true),
    adminCreateUserOnly: bool((props.AdminCreateUserConfig as Props | undefined)?.AllowAdminCreateUserOnly, false),
    mfaConfiguration: String(props.MfaConfiguration ?? 'OFF'),
  };
  let pool = [...state.pools.values()].find((p) => p.cfnKey === cfnKey);
  if (pool) Object.assign(pool, fields, { modified: Date.now() / 1000 });
  else pool = state.createPool(region, fields);
  state.save();
  return {
    ref: pool.Id,
    attrs: {
      Arn: poolArn(pool.Id),
      ProviderName: issuerOf(pool.Id).slice('https://'.length),
      ProviderURL: issuerOf(pool.Id),
      UserPoolId: pool.Id,
    },
  };
}

/** Token validity in seconds: CloudFormation's number in TokenValidityUnits (defaults: ID/access hours, refresh days). */
function validitySeconds(props: Props, key: 'IdToken' | 'AccessToken' | 'RefreshToken', fallback: number): number {
  const value = props[`${key}Validity`];
  if (value === undefined) return fallback;
  const unit = ((props.TokenValidityUnits as Props | undefined)?.[key] ??
    (key === 'RefreshToken' ? 'days' : 'hours')) as string;
  const perUnit: Record<string, number> = { seconds: 1, minutes: 60, hours: 3600, days: 86_400 };
  if (!(unit in perUnit)) throw new Error(`user pool client: unknown token validity unit ${unit}`);
  return Number(value) * (perUnit[unit] as number);
}

export function ensureUserPoolClient(state: CognitoState, cfnKey: string, props: Props): CreatedResource {
  const pool = state.pool(String(props.UserPoolId));
  const fields = {
    ClientName: String(props.ClientName ?? cfnKey.replace('/', '-')),
    // Without ExplicitAuthFlows Cognito allows SRP and refresh only.
    ExplicitAuthFlows: (props.ExplicitAuthFlows as string[] | undefined) ?? [
      'ALLOW_USER_SRP_AUTH',
      'ALLOW_REFRESH_TOKEN_AUTH',
    ],
    PreventUserExistenceErrors:
      props.PreventUserExistenceErrors === 'ENABLED' ? ('ENABLED' as const) : ('LEGACY' as const),
    idTokenSeconds: validitySeconds(props, 'IdToken', 3600),
    accessTokenSeconds: validitySeconds(props, 'AccessToken', 3600),
    refreshTokenSeconds: validitySeconds(props, 'RefreshToken', 30 * 86_400),
    cfnKey,
  };
  let client = Object.values(pool.clients).find((c) => c.cfnKey === cfnKey);
  if (client) Object.assign(client, fields);
  else {
    client = {
      ...fields,
      ClientId: newClientId(),
      created: Date.now() / 1000,
      ...(bool(props.GenerateSecret, false) ? { ClientSecret: randomBytes(38).toString('base64url') } : {}),
    };
    pool.clients[client.ClientId] = client;
  }
  state.save();
  return {
    ref: client.ClientId,
    attrs: {
      ClientId: client.ClientId,
      Name: client.ClientName,
      ...(client.ClientSecret ? { ClientSecret: client.ClientSecret } : {}),
    },
  };
}

export function ensureUserPoolGroup(state: CognitoState, props: Props): CreatedResource {
  const pool = state.pool(String(props.UserPoolId));
  const name = props.GroupName;
  if (typeof name !== 'string' || name === '') throw new Error('user pool group: a GroupName is required locally');
  pool.groups[name] = {
    GroupName: name,
    ...(props.Description !== undefined ? { Description: String(props.Description) } : {}),
    ...(props.Precedence !== undefined ? { Precedence: Number(props.Precedence) } : {}),
    created: pool.groups[name]?.created ?? Date.now() / 1000,
  };
  state.save();
  return { ref: name, attrs: {} };
}

/**
 * Deletes what a stack created; already gone counts as deleted. A group's physical id is only its name (its Ref),
 * so it is removed from the CloudFormation-created pools that have it.
 */
export function deleteCognitoResource(state: CognitoState, type: string, physicalId: string): void {
  if (type === 'AWS::Cognito::UserPool') state.pools.delete(physicalId);
  for (const pool of state.pools.values()) {
    if (type === 'AWS::Cognito::UserPoolClient') delete pool.clients[physicalId];
    if (type === 'AWS::Cognito::UserPoolGroup' && pool.cfnKey) {
      delete pool.groups[physicalId];
      for (const user of Object.values(pool.users)) user.groups = user.groups.filter((g) => g !== physicalId);
    }
  }
  state.save();
}

export const COGNITO_RESOURCE_TYPES = new Set([
  'AWS::Cognito::UserPool',
  'AWS::Cognito::UserPoolClient',
  'AWS::Cognito::UserPoolGroup',
]);
