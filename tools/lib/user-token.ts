import { randomBytes } from 'node:crypto';
import {
  AdminAddUserToGroupCommand,
  AdminCreateUserCommand,
  AdminGetUserCommand,
  AdminSetUserPasswordCommand,
  InitiateAuthCommand,
  NotAuthorizedException,
  UserNotFoundException,
  UsernameExistsException,
  type AuthenticationResultType,
  type CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import type { Role } from '../../shared/auth/principal';
import { CommandError } from '../../shared/process/cli';

/**
 * A user-pool token for a role and an account, got the way any Cognito client gets one — so the same code works
 * on the embedded cloud, LocalStack and AWS: the user (`<role>-<account>` unless named) is created if missing with
 * that `custom:account`, put in the role's group, given a fresh random password, and signed in with
 * USER_PASSWORD_AUTH. Running it again for the same user is safe (it only rotates the password); two runs at once
 * may rotate each other's password between set and sign-in, so a refused sign-in is retried with a new one.
 */

export interface UserTokenRequest {
  poolId: string;
  clientId: string;
  role: Role;
  account: string;
  username?: string;
  /** The password to set (to sign in to the web console with); a fresh random one when absent. */
  password?: string;
}

const ACCOUNT_ATTRIBUTE = 'custom:account';
const SIGN_IN_ATTEMPTS = 3;

export const defaultUsername = (role: Role, account: string) => `${role}-${account}`.toLowerCase();

/** 32 random characters plus one of each class a password policy may require. */
const randomPassword = () => `${randomBytes(24).toString('base64url')}aA1!`;

export async function userToken(
  cognito: CognitoIdentityProviderClient,
  req: UserTokenRequest,
  log: (line: string) => void,
): Promise<AuthenticationResultType> {
  const username = req.username ?? defaultUsername(req.role, req.account);
  const created = await ensureUser(cognito, req, username);
  log(`${created ? 'created' : 'found'} user ${username} (account ${req.account}) in pool ${req.poolId}`);
  await cognito.send(
    new AdminAddUserToGroupCommand({ UserPoolId: req.poolId, Username: username, GroupName: req.role }),
  );
  for (let attempt = 1; ; attempt++) {
    const password = req.password ?? randomPassword();
    await cognito.send(
      new AdminSetUserPasswordCommand({
        UserPoolId: req.poolId,
        Username: username,
        Password: password,
        Permanent: true,
      }),
    );
    try {
      const out = await cognito.send(
        new InitiateAuthCommand({
          AuthFlow: 'USER_PASSWORD_AUTH',
          ClientId: req.clientId,
          AuthParameters: { USERNAME: username, PASSWORD: password },
        }),
      );
      if (!out.AuthenticationResult) {
        throw new CommandError(
          `sign-in of ${username} asked for ${out.ChallengeName ?? 'a challenge'} instead of tokens`,
        );
      }
      return out.AuthenticationResult;
    } catch (err) {
      if (!(err instanceof NotAuthorizedException) || attempt >= SIGN_IN_ATTEMPTS) throw err;
      log(`sign-in refused (${err.message}); another run may have set the password meanwhile, retrying`);
    }
  }
}

/** Creates the user with the account, or checks an existing one has it (the attribute is immutable). */
async function ensureUser(
  cognito: CognitoIdentityProviderClient,
  req: UserTokenRequest,
  username: string,
): Promise<boolean> {
  try {
    const user = await cognito.send(new AdminGetUserCommand({ UserPoolId: req.poolId, Username: username }));
    const account = user.UserAttributes?.find((a) => a.Name === ACCOUNT_ATTRIBUTE)?.Value;
    if (account !== req.account) {
      throw new CommandError(
        `user ${username} exists with ${ACCOUNT_ATTRIBUTE} ${account ?? '(none)'}, not ${req.account}; the attribute ` +
          'cannot change — name another user with --username',
        2,
      );
    }
    return false;
  } catch (err) {
    if (!(err instanceof UserNotFoundException)) throw err;
  }
  try {
    await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: req.poolId,
        Username: username,
        MessageAction: 'SUPPRESS',
        TemporaryPassword: randomPassword(),
        UserAttributes: [{ Name: ACCOUNT_ATTRIBUTE, Value: req.account }],
      }),
    );
    return true;
  } catch (err) {
    // Created by a run at the same moment: look again (and check its account).
    if (err instanceof UsernameExistsException) return ensureUser(cognito, req, username);
    throw err;
  }
}
