import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { BodyTooLarge, readBody } from './body';

/** A JSON 1.1 service's refusal: AWS's error code (`__type`) and message, answered with 400. */
export class JsonServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Validates an action's input; a refusal names every bad field under the service's own error code. */
export function parseInput<T>(schema: z.ZodType<T>, body: unknown, errorType: string): T {
  const r = schema.safeParse(body);
  if (!r.success) {
    throw new JsonServiceError(
      errorType,
      r.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; '),
    );
  }
  return r.data;
}

/** A JSON 1.1 service (X-Amz-Target `<prefix>.<Action>`, JSON body and reply): SSM, Secrets Manager, Cognito. */
export interface JsonService {
  targetPrefix: string;
  maxRequestBytes: number;
  /** The reply body, or a promise of it (Cognito hashes passwords and signs tokens off the event loop). */
  handle(action: string, body: unknown, region: string): unknown;
}

/**
 * Reads one request, runs its action and writes the reply, or the error as AWS's JSON 1.1 services send it
 * (`{"__type", "message"}` with `x-amzn-errortype`), which the SDK turns into the named exception.
 */
export async function serveJson(service: JsonService, req: IncomingMessage, res: ServerResponse, region: string) {
  const reply = (status: number, body: unknown, type?: string) => {
    const payload = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': String(Buffer.byteLength(payload)),
      ...(type ? { 'x-amzn-errortype': type } : {}),
    });
    res.end(payload);
  };
  try {
    const raw = await readBody(req, service.maxRequestBytes);
    const action = String(req.headers['x-amz-target'] ?? '').slice(service.targetPrefix.length + 1);
    reply(200, await service.handle(action, JSON.parse(raw.toString('utf8') || '{}'), region));
  } catch (err) {
    if (err instanceof JsonServiceError) reply(400, { __type: err.type, message: err.message }, err.type);
    else if (err instanceof BodyTooLarge) {
      res.setHeader('connection', 'close');
      reply(413, { __type: 'ValidationException', message: `request body exceeds ${service.maxRequestBytes} bytes` });
    } else if (err instanceof SyntaxError) reply(400, { __type: 'SerializationException', message: err.message });
    else throw err;
  }
}
