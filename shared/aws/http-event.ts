import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod';

/**
 * The parts of an API Gateway HTTP API (payload 2.0) event the functions read. Our own schema rather than
 * Powertools parser's: that package imports zod as `{ z }`, which keeps all of zod (every locale) in each bundle.
 */
export const HttpEventSchema = z.looseObject({
  version: z.literal('2.0'),
  rawPath: z.string(),
  requestContext: z.looseObject({
    requestId: z.string(),
    http: z.looseObject({ method: z.string(), path: z.string() }),
  }),
  headers: z.record(z.string(), z.string().optional()).optional(),
  queryStringParameters: z.record(z.string(), z.string().optional()).optional(),
  pathParameters: z.record(z.string(), z.string().optional()).optional(),
  body: z.string().optional(),
  isBase64Encoded: z.boolean(),
});
export type HttpEvent = z.infer<typeof HttpEventSchema>;

/** A JSON response of an HTTP API Lambda integration. */
export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

/** The request body as JSON (base64 decoded when API Gateway encoded it); `undefined` when it is not JSON. */
export function jsonBody(event: HttpEvent): { ok: true; value: unknown } | { ok: false } {
  const text =
    event.body === undefined
      ? ''
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}
