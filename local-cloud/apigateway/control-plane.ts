import type { IncomingMessage, ServerResponse } from 'node:http';
import { stringify } from 'yaml';
import { buildOpenApiDocument, type ApiRouteInfo } from '../../shared/api/openapi';
import { HTTP_ROUTES } from '../../shared/api/routes';
import type { ApiSpec } from './template';

/*
 * The read side of the apigatewayv2 control plane (REST-JSON, signing name `apigateway`), so the AWS CLI and SDK
 * list what a deploy created: GetApis, GetApi, GetRoutes, GetStages, GetIntegrations, GetAuthorizers, and ExportApi
 * (an HTTP API as OpenAPI 3.0). APIs come only from deployed templates; the write operations are answered with an
 * error naming that.
 */

const apiView = (a: ApiSpec) => ({
  apiId: a.id,
  name: a.name,
  protocolType: a.protocol,
  apiEndpoint: a.apiEndpoint,
  routeSelectionExpression: a.routeSelectionExpression,
  apiKeySelectionExpression: '$request.header.x-api-key',
  createdDate: a.createdDate,
  disableExecuteApiEndpoint: false,
  tags: {},
});

const COLLECTIONS: Record<string, (a: ApiSpec) => unknown[]> = {
  routes: (a) =>
    a.routes.map((r) => ({
      routeId: r.id,
      routeKey: r.routeKey,
      authorizationType: r.authorizationType,
      ...(r.authorizerId ? { authorizerId: r.authorizerId } : {}),
      ...(r.scopes.length > 0 ? { authorizationScopes: r.scopes } : {}),
      ...(r.integrationId ? { target: `integrations/${r.integrationId}` } : {}),
      ...(r.routeResponseSelectionExpression
        ? { routeResponseSelectionExpression: r.routeResponseSelectionExpression }
        : {}),
      apiKeyRequired: false,
    })),
  stages: (a) =>
    a.stages.map((s) => ({
      stageName: s.name,
      autoDeploy: s.autoDeploy,
      defaultRouteSettings: {
        throttlingRateLimit: s.throttle.rateLimit,
        throttlingBurstLimit: s.throttle.burstLimit,
      },
      routeSettings: Object.fromEntries(
        Object.entries(s.routeThrottles).map(([k, t]) => [
          k,
          { throttlingRateLimit: t.rateLimit, throttlingBurstLimit: t.burstLimit },
        ]),
      ),
      ...(s.accessLog
        ? { accessLogSettings: { destinationArn: s.accessLog.destinationArn, format: s.accessLog.format } }
        : {}),
      stageVariables: s.stageVariables,
      createdDate: a.createdDate,
    })),
  integrations: (a) =>
    a.integrations.map((i) => ({
      integrationId: i.id,
      integrationType: i.type,
      integrationUri: i.uri,
      payloadFormatVersion: i.payloadFormatVersion,
      timeoutInMillis: i.timeoutMs,
      connectionType: 'INTERNET',
    })),
  authorizers: (a) =>
    a.authorizers.map((z) => ({
      authorizerId: z.id,
      name: z.name,
      authorizerType: z.type,
      identitySource: z.identitySource,
      ...(z.jwt ? { jwtConfiguration: { issuer: z.jwt.issuer, audience: z.jwt.audience } } : {}),
      ...(z.uri ? { authorizerUri: z.uri, authorizerPayloadFormatVersion: z.payloadFormatVersion } : {}),
      ...(z.type === 'REQUEST' ? { enableSimpleResponses: z.enableSimpleResponses } : {}),
    })),
};

/** A deployed HTTP API's routes as the OpenAPI builder takes them: authorization, JWT authorizer, integration. */
function exportRoutes(api: ApiSpec): ApiRouteInfo[] {
  return api.routes.map((r) => {
    const authorizer = api.authorizers.find((a) => a.id === r.authorizerId);
    const integration = api.integrations.find((i) => i.id === r.integrationId);
    return {
      routeKey: r.routeKey,
      authorizationType: r.authorizationType,
      ...(r.scopes.length > 0 ? { scopes: r.scopes } : {}),
      ...(authorizer?.jwt
        ? { authorizer: { name: authorizer.name, ...authorizer.jwt, identitySource: authorizer.identitySource } }
        : {}),
      ...(integration
        ? {
            integration: {
              type: integration.type.toLowerCase(),
              httpMethod: 'POST',
              uri: integration.uri,
              payloadFormatVersion: integration.payloadFormatVersion,
              connectionType: 'INTERNET',
              timeoutInMillis: integration.timeoutMs,
            },
          }
        : {}),
    };
  });
}

/**
 * ExportApi (GET /v2/apis/{apiId}/exports/OAS30?outputType=JSON|YAML&includeExtensions=): as AWS, an HTTP API's routes
 * with their security schemes (and API Gateway's `x-amazon-apigateway-*` extensions unless includeExtensions=false).
 * Beyond AWS — which knows no bodies of an HTTP API — a route this product has a contract for (shared/api/routes.ts)
 * is described by it, so the embedded cloud exports what docs/openapi.json holds, with this deploy's issuer and URL.
 */
function exportApi(api: ApiSpec, specification: string, query: URLSearchParams, res: ServerResponse): void {
  const bad = (message: string) => send(res, 400, { message }, 'BadRequestException');
  if (specification !== 'OAS30') return bad(`Unsupported specification ${specification}: only OAS30`);
  if (api.protocol !== 'HTTP') return bad('Only HTTP APIs can be exported');
  const outputType = query.get('outputType') ?? '';
  if (outputType !== 'JSON' && outputType !== 'YAML') return bad('outputType must be JSON or YAML');
  const extensions = query.get('includeExtensions') !== 'false';
  const routes = exportRoutes(api).map(({ integration, ...r }) =>
    extensions && integration ? { ...r, integration } : r,
  );
  const document = buildOpenApiDocument(routes, {
    title: api.name,
    version: api.createdDate,
    description: `${api.name}, exported by the embedded cloud's API Gateway`,
    servers: [{ url: api.apiEndpoint }],
    contracts: HTTP_ROUTES,
    requireContracts: false,
    ...(extensions ? { extensions: { 'x-amazon-apigateway-importexport-version': '1.0' } } : {}),
  });
  const body = outputType === 'JSON' ? JSON.stringify(document, null, 2) : stringify(document);
  res.writeHead(200, {
    'content-type': outputType === 'JSON' ? 'application/json' : 'application/yaml',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(payload);
}

/** Serves one apigatewayv2 control-plane request over the given APIs. */
export function serveControlPlane(apis: ApiSpec[], req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://control-plane');
  const path = url.pathname;
  const exported = /^\/v2\/apis\/([^/]+)\/exports\/([^/]+)$/.exec(path);
  const m = exported ? [path, exported[1]] : /^\/v2\/apis(?:\/([^/]+)(?:\/([a-z]+))?)?\/?$/.exec(path);
  if (!m) return send(res, 404, { message: `No apigatewayv2 operation at ${path}` }, 'NotFoundException');
  if (req.method !== 'GET') {
    return send(
      res,
      400,
      {
        message: 'The embedded cloud serves APIs from deployed templates only: deploy a stack to create or change one',
      },
      'BadRequestException',
    );
  }
  const [, id, collection] = m;
  if (!id) return send(res, 200, { items: apis.map(apiView) });
  const api = apis.find((a) => a.id === id);
  if (!api) return send(res, 404, { message: `Invalid API identifier specified ${id}` }, 'NotFoundException');
  if (exported) return exportApi(api, decodeURIComponent(exported[2] as string), url.searchParams, res);
  if (!collection) return send(res, 200, apiView(api));
  const list = COLLECTIONS[collection];
  if (!list) return send(res, 404, { message: `No apigatewayv2 collection ${collection}` }, 'NotFoundException');
  send(res, 200, { items: list(api) });
}
