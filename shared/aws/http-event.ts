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
