import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import type { Construct } from 'constructs';
import { NagSuppressions } from 'cdk-nag';
import { ROLES } from '../../shared/auth/principal';
import type { InfraConfig } from '../config';
import { named, ResourceGroup } from './logical-ids';

/** The custom attribute naming the trading account a user acts for (`custom:account` in the ID token). */
export const ACCOUNT_ATTRIBUTE = 'account';
/** Token lifetimes: an hour for ID and access tokens, a day for the refresh token (a working session). */
export const TOKEN_VALIDITY = { id: Duration.hours(1), access: Duration.hours(1), refresh: Duration.days(1) };

/**
 * The people who use the trading API: a Cognito user pool whose groups (admin, trader, viewer) are the roles of
 * shared/auth/principal.ts, and whose immutable `custom:account` attribute is the account a user trades — both
 * carried in the ID token the HTTP API's JWT authorizer checks. Admins create users (no self sign-up); the app
 * client is public (no secret: the CLI and the browser console cannot keep one) and signs in with SRP or, for
 * `npm run token` and scripts, USER_PASSWORD_AUTH over TLS.
 */
export class TradingUserPool extends ResourceGroup {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  /** `https://cognito-idp.<region>.amazonaws.com/<poolId>`: the tokens' `iss`. */
  readonly issuer: string;
  /** Where the pool's signing keys are published, for functions that verify tokens themselves. */
  readonly jwksUri: string;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    this.userPool = named(
      new cognito.UserPool(this, 'UserPool', {
        selfSignUpEnabled: false,
        signInAliases: { username: true },
        signInCaseSensitive: false,
        customAttributes: {
          // Immutable: set once by the admin who creates the user, never by the user (the client cannot write it).
          [ACCOUNT_ATTRIBUTE]: new cognito.StringAttribute({ minLen: 1, maxLen: 64, mutable: false }),
        },
        passwordPolicy: {
          minLength: 12,
          requireLowercase: true,
          requireUppercase: true,
          requireDigits: true,
          requireSymbols: true,
          tempPasswordValidity: Duration.days(3),
        },
        // Admins reset passwords (AdminSetUserPassword); no self-service recovery channel to take over.
        accountRecovery: cognito.AccountRecovery.NONE,
        mfa: cognito.Mfa.OPTIONAL,
        mfaSecondFactor: { otp: true, sms: false },
        // Threat protection (compromised credentials, adaptive authentication) needs the Plus feature plan.
        featurePlan: cognito.FeaturePlan.PLUS,
        standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
        deletionProtection: config.retainData,
        removalPolicy: config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      }),
    );
    NagSuppressions.addResourceSuppressions(this.userPool, [
      {
        id: 'AwsSolutions-COG2',
        reason:
          'MFA is OPTIONAL (TOTP), not REQUIRED: operators and scripts sign in non-interactively (npm run token, ' +
          'USER_PASSWORD_AUTH), which a required second factor would stop; threat protection is enforced instead ' +
          '(COG3), users are created by admins only, and interactive users can enrol a TOTP device.',
      },
    ]);
    const readable = new cognito.ClientAttributes()
      .withStandardAttributes({ email: true, emailVerified: true, preferredUsername: true })
      .withCustomAttributes(ACCOUNT_ATTRIBUTE);
    this.client = named(
      this.userPool.addClient('UserPoolClient', {
        generateSecret: false,
        authFlows: { userPassword: true, userSrp: true },
        readAttributes: readable,
        // Users may change their own profile fields, never their account.
        writeAttributes: new cognito.ClientAttributes().withStandardAttributes({ preferredUsername: true }),
        idTokenValidity: TOKEN_VALIDITY.id,
        accessTokenValidity: TOKEN_VALIDITY.access,
        refreshTokenValidity: TOKEN_VALIDITY.refresh,
        preventUserExistenceErrors: true,
        enableTokenRevocation: true,
        disableOAuth: true,
      }),
    );
    ROLES.forEach((role, precedence) =>
      named(
        new cognito.CfnUserPoolGroup(this, `UserPoolGroup${role.charAt(0).toUpperCase()}${role.slice(1)}`, {
          userPoolId: this.userPool.userPoolId,
          groupName: role,
          description: `${role} role (shared/auth/principal.ts)`,
          // admin first: Cognito picks the lowest precedence for a user's IAM role when groups carry one.
          precedence,
        }),
      ),
    );
    this.issuer = this.userPool.userPoolProviderUrl;
    this.jwksUri = `${this.issuer}/.well-known/jwks.json`;
  }
}
