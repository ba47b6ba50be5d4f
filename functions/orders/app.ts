import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 as Response, Context } from 'aws-lambda';
import { principalFromEvent } from '../../shared/auth/principal';
import { HttpEventSchema } from '../../shared/aws/http-event';
import { failureResponse, json, jsonBody } from '../../shared/aws/http-response';
import type { CancelOutcome, OrderEntry, PlaceOutcome } from '../../shared/aws/order-entry';
import { describeZodError } from '../../shared/domain/order';

export interface OrdersDeps {
  entry: OrderEntry;
  logger: Logger;
}

/** A place outcome as POST /orders answers it (docs/api.md, "POST /orders"). */
export function placeResponse(outcome: PlaceOutcome): Response {
  switch (outcome.kind) {
    case 'entered':
      return json(202, { orderId: outcome.orderId, status: outcome.status });
    case 'expired':
      return json(200, { orderId: outcome.orderId, status: outcome.status, reason: outcome.reason });
    case 'invalid':
      return json(400, { message: outcome.message, errors: outcome.errors });
    case 'forbidden':
      return json(403, { message: outcome.message });
    case 'rate-limited': {
      const { message, retryAfterSeconds } = outcome;
      return json(429, { message, retryAfterSeconds }, { 'retry-after': String(retryAfterSeconds) });
    }
    case 'conflict': {
      const { kind: _kind, ...body } = outcome;
      return json(409, body);
    }
  }
}

/** A cancel outcome as DELETE /orders/{orderId} answers it. */
export function cancelResponse(outcome: CancelOutcome): Response {
  switch (outcome.kind) {
    case 'canceled':
      return json(200, { orderId: outcome.orderId, status: outcome.status });
    case 'refused': {
      const { kind: _kind, ...body } = outcome;
      return json(409, body);
    }
    case 'invalid':
      return json(400, { message: outcome.message });
    case 'not-found':
      return json(404, { message: outcome.message });
    case 'forbidden':
      return json(403, { message: outcome.message });
  }
}

/**
 * POST /orders and DELETE /orders/{orderId} (docs/api.md): the HTTP entry to order entry
 * (shared/aws/order-entry.ts, shared with `order.submit` / `order.cancel` on the WebSocket). This handler only
 * reads the request and maps the outcome to a status and body.
 */
export function createOrdersHandler(deps: OrdersDeps) {
  const { entry, logger } = deps;
  return middy(async (raw: unknown, _context: Context): Promise<Response> => {
    const parsed = HttpEventSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`orders expects an HTTP API v2 event: ${describeZodError(parsed.error)}`);
    const event = parsed.data;
    const { method, path } = event.requestContext.http;
    try {
      const principal = principalFromEvent(raw);
      if (method === 'POST' && /\/orders$/.test(path)) {
        const body = jsonBody(event);
        if (!body.ok)
          return json(400, { message: 'invalid order', errors: [{ field: '(body)', message: 'is not JSON' }] });
        return placeResponse(await entry.place(principal, body.value, event.requestContext.requestId));
      }
      if (method === 'DELETE' && /\/orders\/[^/]+$/.test(path))
        return cancelResponse(await entry.cancel(principal, event.pathParameters?.orderId ?? ''));
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      return failureResponse(
        error,
        logger,
        { method, path },
        { statusCode: 503, message: 'the request could not be completed; retry it (it is idempotent)' },
      );
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
