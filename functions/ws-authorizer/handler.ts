import { createLogger } from '../../shared/powertools';
import { createJwtVerifier, createWsAuthorizer } from './app';
import { loadWsAuthorizerConfig } from './config';

// Cold start: config validated, the verifier (and its JWKS cache) created once per container.
const config = loadWsAuthorizerConfig();

export const handler = createWsAuthorizer({ verify: createJwtVerifier(config), logger: createLogger(config) });
