import * as z from 'zod';
import type { ResponseContract, RouteContract } from './routes';
import { ErrorSchema } from './schemas';

/*
 * Builds an OpenAPI 3.0 document of an HTTP API from its routes (as API Gateway holds them: route key, authorization
 * type, authorizer) and, where there is one, each route's contract (shared/api/routes.ts). Pure: tools/openapi.ts
 * feeds it the synthesized template's routes; the embedded cloud's ExportApi feeds it a deployed API's.
 * OpenAPI 3.0 rather than 3.1: it is what API Gateway's ImportApi and ExportApi speak (OAS30), and zod's
 * `openapi-3.0` target writes it.
 */

export type AuthorizationType = 'NONE' | 'AWS_IAM' | 'JWT' | 'CUSTOM';

export interface ApiRouteInfo {
  routeKey: string;
  authorizationType: AuthorizationType;
  /** The JWT authorizer of the route (authorizationType JWT). */
  authorizer?: { name: string; issuer: string; audience: string[]; identitySource: string[] };
  scopes?: string[];
  /** API Gateway's `x-amazon-apigateway-integration` of the route, when the document carries extensions (ExportApi). */
  integration?: Record<string, unknown>;
}

export interface DocumentOptions {
  title: string;
  version: string;
  description: string;
  servers: {
    url: string;
    description?: string;
    variables?: Record<string, { default: string; description?: string }>;
  }[];
  /** Contracts by route key. */
  contracts: Record<string, RouteContract>;
  /** Refuse a route without a contract (the repository's own document), rather than describe it bare (ExportApi). */
  requireContracts: boolean;
  /** Top-level `x-…` fields (ExportApi's `x-amazon-apigateway-importexport-version`). */
  extensions?: Record<string, unknown>;
}

type Json = Record<string, unknown>;
const SCHEMA_REF = '#/components/schemas/';

/** API Gateway's own answers, by the route's authorization: `{"message": …}` bodies, before or around the function. */
function gatewayResponses(route: ApiRouteInfo, hasBody: boolean): Record<number, string> {
  const answers: Record<number, string> = {};
  if (route.authorizationType === 'JWT') {
    answers[401] = 'API Gateway: no token, or a malformed, expired or foreign one (`{"message":"Unauthorized"}`)';
  }
  if (route.authorizationType === 'AWS_IAM') {
    answers[403] =
      'API Gateway: not SigV4-signed, a bad signature, or IAM does not allow execute-api:Invoke (`{"message":"Forbidden"}` or the signature error)';
  }
  if (hasBody) answers[413] = 'API Gateway: the body is over 10 MB (`Request Entity Too Large`)';
  answers[429] = 'API Gateway: the stage throttle (`Too Many Requests`)';
  answers[500] = 'API Gateway: the integration failed (`Internal Server Error`)';
  answers[503] = 'API Gateway: the function did not answer within the integration timeout (`Service Unavailable`)';
  return answers;
}

/** The security scheme a route's authorization maps to, by name. */
function securityScheme(route: ApiRouteInfo): [string, Json] | undefined {
  if (route.authorizationType === 'AWS_IAM') {
    return [
      'sigv4',
      {
        type: 'apiKey',
        name: 'Authorization',
        in: 'header',
        description:
          'AWS Signature Version 4 (service `execute-api`): sign the request with credentials whose IAM policy allows `execute-api:Invoke` on the route (the AWS SDK and CLI sign; OpenAPI has no SigV4 scheme, so it is written as API Gateway exports it: an apiKey in the Authorization header with `x-amazon-apigateway-authtype: awsSigv4`).',
        'x-amazon-apigateway-authtype': 'awsSigv4',
      },
    ];
  }
  if (route.authorizationType === 'JWT' && route.authorizer) {
    const { name, issuer, audience, identitySource } = route.authorizer;
    return [
      name,
      {
        type: 'openIdConnect',
        openIdConnectUrl: `${issuer}/.well-known/openid-configuration`,
        description: `A JWT (the user pool's ID token) in the Authorization header (\`Bearer \` optional), checked by API Gateway: signature against the issuer's JWKS, issuer \`${issuer}\`, audience ${audience.map((a) => `\`${a}\``).join(', ')}, expiry.`,
        'x-amazon-apigateway-authorizer': {
          type: 'jwt',
          identitySource: identitySource.join(','),
          jwtConfiguration: { issuer, audience },
        },
      },
    ];
  }
  return undefined;
}

/**
 * zod → JSON Schema, with every schema that has an id (`.meta({ id })`) moved to components. Hand-written on purpose:
 * zod's own registry output puts shared definitions under a `__shared` pseudo-schema that OpenAPI cannot reference.
 */
class Components {
  readonly schemas: Record<string, unknown> = {};

  schema(schema: z.ZodType, io: 'input' | 'output'): Json {
    const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Json;
    const defs = (json.definitions ?? {}) as Record<string, Json>;
    delete json.definitions;
    delete json.$schema;
    for (const [id, def] of Object.entries(defs)) this.add(id, this.relink(def));
    return this.relink(json);
  }

  private add(id: string, def: Json): void {
    const known = this.schemas[id];
    if (known !== undefined && JSON.stringify(known) !== JSON.stringify(def)) {
      throw new Error(`two different schemas are both named ${id} (.meta({ id })): give one another id`);
    }
    this.schemas[id] = def;
  }

  private relink(value: Json): Json {
    return JSON.parse(JSON.stringify(value).replaceAll('"#/definitions/', `"${SCHEMA_REF}`)) as Json;
  }
}

function parameters(contract: RouteContract, components: Components): Json[] {
  const path = Object.entries(contract.path ?? {}).map(([name, schema]) => ({
    name,
    in: 'path',
    required: true,
    schema: components.schema(schema, 'input'),
  }));
  if (!contract.query) return path;
  const query = components.schema(contract.query, 'input');
  const required = new Set((query.required ?? []) as string[]);
  const properties = (query.properties ?? {}) as Record<string, Json>;
  return [
    ...path,
    ...Object.entries(properties).map(([name, schema]) => ({
      name,
      in: 'query',
      required: required.has(name),
      ...(contract.queryDescriptions?.[name] ? { description: contract.queryDescriptions[name] } : {}),
      schema,
    })),
  ];
}

/** The function's answer and API Gateway's for one status, merged: one description, one schema (oneOf if two). */
function response(fn: ResponseContract | undefined, gateway: string | undefined, components: Components): Json {
  const schemas: Json[] = [];
  if (fn) schemas.push(components.schema(fn.schema, 'output'));
  if (gateway) schemas.push({ $ref: `${SCHEMA_REF}Error` });
  const distinct = [...new Map(schemas.map((s) => [JSON.stringify(s), s])).values()];
  const description = [fn && `The function: ${fn.description}.`, gateway && `${gateway}.`].filter(Boolean).join(' ');
  return {
    description,
    ...(fn?.headers
      ? {
          headers: Object.fromEntries(
            Object.entries(fn.headers).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }]),
          ),
        }
      : {}),
    content: { 'application/json': { schema: distinct.length === 1 ? distinct[0] : { oneOf: distinct } } },
  };
}

function operation(route: ApiRouteInfo, contract: RouteContract | undefined, components: Components): Json {
  const [method, path] = route.routeKey.split(' ') as [string, string];
  const scheme = securityScheme(route);
  const security = scheme ? [{ [scheme[0]]: route.scopes ?? [] }] : [];
  const operationId = `${method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/(?:^|\/)(\w)/g, (_m, c: string) => c.toUpperCase())}`;
  const integration = route.integration ? { 'x-amazon-apigateway-integration': route.integration } : {};
  if (!contract) {
    return {
      operationId,
      security,
      responses: { default: { description: `Default response for ${route.routeKey}` } },
      ...integration,
    };
  }
  const gateway = gatewayResponses(route, contract.body !== undefined);
  const statuses = [...new Set([...Object.keys(contract.responses), ...Object.keys(gateway)].map(Number))].sort(
    (a, b) => a - b,
  );
  return {
    operationId,
    summary: contract.summary,
    description: `${contract.description}\n\n**Who**: ${contract.access}\n\nFunction: \`functions/${contract.handler}\`.`,
    security,
    parameters: parameters(contract, components),
    ...(contract.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: components.schema(contract.body, 'input') } },
          },
        }
      : {}),
    responses: Object.fromEntries(
      statuses.map((status) => [String(status), response(contract.responses[status], gateway[status], components)]),
    ),
    ...integration,
  };
}

/** The OpenAPI document of an HTTP API's routes. Throws naming every route without a contract when they are required. */
export function buildOpenApiDocument(routes: readonly ApiRouteInfo[], options: DocumentOptions): Json {
  const missing = routes.filter((r) => !options.contracts[r.routeKey]).map((r) => r.routeKey);
  if (options.requireContracts && missing.length > 0) {
    throw new Error(`routes without a contract in shared/api/routes.ts: ${missing.join(', ')}`);
  }
  const components = new Components();
  components.schema(ErrorSchema, 'output'); // the body of API Gateway's own answers
  const paths: Record<string, Json> = {};
  const securitySchemes: Record<string, Json> = {};
  // By path, then method: a stable order, whatever order the template lists them in.
  const byPath = (r: ApiRouteInfo) => `${r.routeKey.split(' ')[1] ?? ''} ${r.routeKey}`;
  const sorted = [...routes].sort((a, b) => byPath(a).localeCompare(byPath(b)));
  for (const route of sorted) {
    const [method, path] = route.routeKey.split(' ') as [string, string];
    if (!path) continue; // $default: no path to describe
    const scheme = securityScheme(route);
    if (scheme) securitySchemes[scheme[0]] = scheme[1];
    paths[path] = {
      ...paths[path],
      [method.toLowerCase()]: operation(route, options.contracts[route.routeKey], components),
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: options.title, version: options.version, description: options.description },
    servers: options.servers,
    paths,
    components: {
      securitySchemes,
      schemas: Object.fromEntries(Object.entries(components.schemas).sort(([a], [b]) => a.localeCompare(b))),
    },
    ...options.extensions,
  };
}
