import { randomBytes } from 'node:crypto';
import { QueryError, type XmlValue } from '../edge/xml';
import { required, type QueryService } from '../edge/query-service';

/** The account every local resource lives in (LocalStack's too). */
export const LOCAL_ACCOUNT = '000000000000';
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:.*\/)?([\w+=,.@-]{1,64})$/;

/**
 * STS as the CDK CLI uses it: who am I (account discovery) and AssumeRole (it assumes the bootstrap stack's
 * deploy, file-publishing and lookup roles). Credentials are not checked anywhere locally, so the temporary
 * credentials handed out are well-formed but grant nothing more than any other key would.
 */
export const stsService: QueryService = {
  xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
  maxRequestBytes: 64 * 1024,
  handle: (action, params) => Promise.resolve(stsAction(action, params)),
};

function stsAction(action: string, params: URLSearchParams): Record<string, XmlValue> {
  switch (action) {
    case 'GetCallerIdentity':
      return { UserId: LOCAL_ACCOUNT, Account: LOCAL_ACCOUNT, Arn: `arn:aws:iam::${LOCAL_ACCOUNT}:root` };
    case 'AssumeRole':
      return assumeRole(params);
    default:
      throw new QueryError(
        'InvalidAction',
        `STS action ${action} is not emulated locally (GetCallerIdentity, AssumeRole are)`,
      );
  }
}

function assumeRole(params: URLSearchParams): Record<string, XmlValue> {
  const roleArn = required(params, 'RoleArn');
  const session = required(params, 'RoleSessionName');
  const m = ROLE_ARN.exec(roleArn);
  if (!m) throw new QueryError('ValidationError', `RoleArn ${roleArn} is not an IAM role ARN`);
  if (!/^[\w+=,.@-]{2,64}$/.test(session)) {
    throw new QueryError('ValidationError', `RoleSessionName ${session} must be 2-64 characters of [\\w+=,.@-]`);
  }
  const seconds = Number(params.get('DurationSeconds') ?? 3600);
  if (!Number.isInteger(seconds) || seconds < 900 || seconds > 43200) {
    throw new QueryError('ValidationError', `DurationSeconds ${seconds} is outside 900..43200`);
  }
  const roleId = `AROA${randomBytes(8).toString('hex').toUpperCase()}`;
  return {
    Credentials: {
      AccessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      SecretAccessKey: randomBytes(30).toString('base64'),
      SessionToken: randomBytes(48).toString('base64'),
      Expiration: new Date(Date.now() + seconds * 1000),
    },
    AssumedRoleUser: {
      AssumedRoleId: `${roleId}:${session}`,
      Arn: `arn:aws:sts::${m[1]}:assumed-role/${m[2]}/${session}`,
    },
    PackedPolicySize: params.has('Policy') ? 6 : undefined,
    SourceIdentity: params.get('SourceIdentity') ?? undefined,
  };
}
