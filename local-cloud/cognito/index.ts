/**
 * The embedded cloud's Cognito user pools: the identity provider API on the edge (api.ts), sign-in and tokens
 * (auth.ts, tokens.ts), pools/clients/groups from CloudFormation (resources.ts), and where their keys are served.
 */
export { CognitoIdp, COGNITO_TARGET_PREFIX } from './api';
export {
  deleteCognitoResource,
  ensureUserPool,
  ensureUserPoolClient,
  ensureUserPoolGroup,
  COGNITO_RESOURCE_TYPES,
} from './resources';
export { issuerOf, poolIdOfIssuer, publicJwks } from './tokens';
export { jwksPoolId, localJwksUri, localizeJwksUri, USER_POOL_JWKS_URI } from './jwks';
