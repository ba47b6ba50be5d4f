import type { IncomingHttpHeaders } from 'node:http';

/*
 * The Lambda proxy events API Gateway sends an HTTP API's integration (payload format 2.0 and 1.0) and the mapping
 * of a function's answer back to an HTTP response, as AWS documents them. Pure: the gateway supplies the request.
 */

export const LOCAL_ACCOUNT = '000000000000';

/** One HTTP request as the gateway saw it, after stage resolution. */
export interface GatewayRequest {
  apiId: string;
  stage: string;
  method: string;
  /** The request path as on AWS's execute-api host: `/<stage>/…` for a named stage, `/…` for `$default`. */
  rawPath: string;
  rawQueryString: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  sourceIp: string;
  domainName: string;
  requestId: string;
  timeEpoch: number;
}

/** `12/Mar/2020:19:03:58 +0000`: API Gateway's requestContext.time. */
export function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${month}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Headers lower-cased with repeated values joined by commas (format 2.0); `cookie` goes to `cookies`. */
export function joinedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || k === 'cookie') continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

export function cookiesOf(headers: IncomingHttpHeaders): string[] {
  const raw = headers.cookie;
  if (!raw) return [];
  return (Array.isArray(raw) ? raw : [raw]).flatMap((c) =>
    c
      .split(';')
      .map((s: string) => s.trim())
      .filter(Boolean),
  );
}

/** Query parameters, repeated ones joined with commas (format 2.0) and as lists (format 1.0's multiValue…). */
export function queryParameters(raw: string): { joined: Record<string, string>; multi: Record<string, string[]> } {
  const multi: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(raw)) (multi[k] ??= []).push(v);
  const joined = Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v.join(',')]));
  return { joined, multi };
}

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|[^;]*\+(json|xml))/i;

/** API Gateway passes text bodies as they are and base64-encodes the rest (binary, or no content type). */
export function encodeBody(body: Buffer, contentType: string | undefined): { body?: string; isBase64Encoded: boolean } {
  if (body.length === 0) return { isBase64Encoded: false };
  if (contentType && TEXT_TYPES.test(contentType)) return { body: body.toString('utf8'), isBase64Encoded: false };
  return { body: body.toString('base64'), isBase64Encoded: true };
}

export interface RouteContext {
  routeKey: string;
  pathParameters: Record<string, string>;
  stageVariables: Record<string, string>;
  /** requestContext.authorizer, already in the shape of the authorizer type (jwt / iam / lambda). */
  authorizer?: Record<string, unknown>;
}

/** The payload format 2.0 event. */
export function httpEventV2(req: GatewayRequest, route: RouteContext): Record<string, unknown> {
  const query = queryParameters(req.rawQueryString);
  const cookies = cookiesOf(req.headers);
  const headers = joinedHeaders(req.headers);
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: req.rawPath,
    rawQueryString: req.rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(Object.keys(query.joined).length > 0 ? { queryStringParameters: query.joined } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: req.apiId,
      ...(route.authorizer ? { authorizer: route.authorizer } : {}),
      domainName: req.domainName,
      domainPrefix: req.domainName.split('.')[0],
      http: {
        method: req.method,
        path: req.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: req.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: req.requestId,
      routeKey: route.routeKey,
      stage: req.stage,
      time: clfTime(req.timeEpoch),
      timeEpoch: req.timeEpoch,
    },
    ...(Object.keys(route.pathParameters).length > 0 ? { pathParameters: route.pathParameters } : {}),
    ...(Object.keys(route.stageVariables).length > 0 ? { stageVariables: route.stageVariables } : {}),
    ...encodeBody(req.body, headers['content-type']),
  };
}

/** The payload format 1.0 event (REST-API-shaped), for integrations that ask for it. */
export function httpEventV1(req: GatewayRequest, route: RouteContext): Record<string, unknown> {
  const query = queryParameters(req.rawQueryString);
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) multiValueHeaders[k] = [v].flat();
  const headers = Object.fromEntries(Object.entries(multiValueHeaders).map(([k, v]) => [k, v[v.length - 1]]));
  const resource = route.routeKey.includes(' ') ? route.routeKey.slice(route.routeKey.indexOf(' ') + 1) : '/';
  const encoded = encodeBody(req.body, headers['content-type']);
  return {
    version: '1.0',
    resource,
    path: req.rawPath,
    httpMethod: req.method,
    headers,
    multiValueHeaders,
    queryStringParameters: Object.keys(query.multi).length > 0 ? query.joined : null,
    multiValueQueryStringParameters: Object.keys(query.multi).length > 0 ? query.multi : null,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: req.apiId,
      ...(route.authorizer ? { authorizer: route.authorizer } : {}),
      domainName: req.domainName,
      domainPrefix: req.domainName.split('.')[0],
      httpMethod: req.method,
      identity: { sourceIp: req.sourceIp, userAgent: headers['user-agent'] ?? null },
      path: req.rawPath,
      protocol: 'HTTP/1.1',
      requestId: req.requestId,
      requestTime: clfTime(req.timeEpoch),
      requestTimeEpoch: req.timeEpoch,
      resourcePath: resource,
      stage: req.stage,
    },
    pathParameters: Object.keys(route.pathParameters).length > 0 ? route.pathParameters : null,
    stageVariables: Object.keys(route.stageVariables).length > 0 ? route.stageVariables : null,
    body: encoded.body ?? null,
    isBase64Encoded: encoded.isBase64Encoded,
  };
}

export interface HttpResponse {
  statusCode: number;
  /** Header name → values (several values are sent as several header lines). */
  headers: Record<string, string[]>;
  body: Buffer;
}

/** What a function's answer maps to; undefined when it is malformed (API Gateway answers 500 then). */
export function mapLambdaResponse(payload: unknown, version: '1.0' | '2.0'): HttpResponse | undefined {
  const structured =
    payload !== null && typeof payload === 'object' && 'statusCode' in (payload as Record<string, unknown>);
  if (!structured) {
    // Format 2.0 infers a 200 JSON response from any other valid JSON; 1.0 requires the structured form.
    if (version === '1.0' || payload === undefined) return undefined;
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return { statusCode: 200, headers: { 'content-type': ['application/json'] }, body: Buffer.from(body) };
  }
  const r = payload as {
    statusCode: unknown;
    headers?: Record<string, unknown>;
    multiValueHeaders?: Record<string, unknown[]>;
    cookies?: unknown[];
    body?: unknown;
    isBase64Encoded?: unknown;
  };
  const status = Number(r.statusCode);
  if (!Number.isInteger(status) || status < 100 || status > 599) return undefined;
  if (r.body !== undefined && r.body !== null && typeof r.body !== 'string') return undefined;
  const headers: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = [String(v)];
  for (const [k, vs] of Object.entries(r.multiValueHeaders ?? {})) {
    if (Array.isArray(vs)) headers[k.toLowerCase()] = vs.map(String);
  }
  if (Array.isArray(r.cookies) && r.cookies.length > 0)
    headers['set-cookie'] = [...(headers['set-cookie'] ?? []), ...r.cookies.map(String)];
  const text = typeof r.body === 'string' ? r.body : '';
  const body = r.isBase64Encoded === true ? Buffer.from(text, 'base64') : Buffer.from(text);
  return { statusCode: status, headers, body };
}
