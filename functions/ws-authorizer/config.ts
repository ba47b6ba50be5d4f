import * as z from 'zod';
import { httpUrl, loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';

export const wsAuthorizerEnv = {
  ...powertoolsEnv,
  /** The user pool's issuer: `https://cognito-idp.<region>.amazonaws.com/<poolId>` (the local IdP's in the embedded cloud). */
  JWT_ISSUER: httpUrl,
  /** The app client id: an ID token's `aud`. */
  JWT_AUDIENCE: nonEmptyString,
  /** Where the signing keys are; the issuer's `/.well-known/jwks.json` when unset (the embedded cloud sets its IdP's). */
  USER_POOL_JWKS_URI: httpUrl.optional(),
};
export type WsAuthorizerConfig = z.infer<z.ZodObject<typeof wsAuthorizerEnv>>;

export function loadWsAuthorizerConfig(env: NodeJS.ProcessEnv = process.env): WsAuthorizerConfig {
  return loadConfig(wsAuthorizerEnv, env);
}
