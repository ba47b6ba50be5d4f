import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { PrincipalError } from '../auth/principal';
import { LedgerClientError } from '../raft-client/client';
import type { HttpEvent } from './http-event';

/*
 * Answers of the user-facing HTTP functions (api, orders, admin): kept apart from http-event.ts, which ingest
 * imports too, so ingest's bundle does not carry the ledger client.
 */

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

/**
 * The answer of a user-facing route whose work threw: 403 when no principal could be read, a gateway error when the
 * ledger refused (502) or could not be reached (503), else `otherwise` (logged; no internals in the body).
 */
export function failureResponse(
  error: unknown,
  logger: Logger,
  request: { method: string; path: string },
  otherwise: { statusCode: number; message: string } = { statusCode: 500, message: 'internal error' },
): APIGatewayProxyStructuredResultV2 {
  if (error instanceof PrincipalError) return json(403, { message: error.message });
  logger.error('request failed', { ...request, error: error as Error });
  if (error instanceof LedgerClientError) {
    return json(error.status === undefined ? 503 : 502, { message: error.message });
  }
  return json(otherwise.statusCode, { message: otherwise.message });
}
