import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiSpec } from './template';

/*
 * The read side of the apigatewayv2 control plane (REST-JSON, signing name `apigateway`), so the AWS CLI and SDK
 * list what a deploy created: GetApis, GetApi, GetRoutes, GetStages, GetIntegrations, GetAuthorizers. APIs come only
 * from deployed templates; the write operations are answered with an error naming that.
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
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const m = /^\/v2\/apis(?:\/([^/]+)(?:\/([a-z]+))?)?\/?$/.exec(path);
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
  if (!collection) return send(res, 200, apiView(api));
  const list = COLLECTIONS[collection];
  if (!list) return send(res, 404, { message: `No apigatewayv2 collection ${collection}` }, 'NotFoundException');
  send(res, 200, { items: list(api) });
}
