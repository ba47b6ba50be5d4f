import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, readBody } from './body';
import { queryError, queryResponse, QueryError, sendXml, type XmlValue } from './xml';

/** A query-protocol service (form-encoded `Action=…`, XML replies): STS and CloudFormation. */
export interface QueryService {
  /** The XML namespace of the service's replies. */
  xmlns: string;
  /** The request's largest body (CloudFormation's TemplateBody is at most 51,200 bytes). */
  maxRequestBytes: number;
  handle(action: string, params: URLSearchParams, region: string): Promise<Record<string, XmlValue> | undefined>;
}

/** Reads a query request (body and query string), runs its action and writes the XML reply or AWS error. */
export async function serveQuery(
  service: QueryService,
  req: IncomingMessage,
  res: ServerResponse,
  region: string,
): Promise<void> {
  let body: Buffer;
  try {
    body = await readBody(req, service.maxRequestBytes);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    res.setHeader('connection', 'close');
    sendXml(res, 413, queryError('RequestEntityTooLarge', `request body exceeds ${service.maxRequestBytes} bytes`));
    res.once('finish', () => req.destroy());
    return;
  }
  const params = new URLSearchParams((req.url ?? '/').split('?')[1] ?? '');
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params.append(k, v);
  const action = params.get('Action');
  try {
    if (!action) throw new QueryError('MissingAction', 'the request names no Action');
    const result = await service.handle(action, params, region);
    sendXml(res, 200, queryResponse(action, service.xmlns, result));
  } catch (err) {
    if (err instanceof QueryError) sendXml(res, err.status, queryError(err.code, err.message));
    else sendXml(res, 500, queryError('InternalFailure', (err as Error).message, 'Receiver'));
  }
}

/** The `Prefix.member.N` list of a query request, in order (`Prefix.member.N.Field` entries become objects). */
export function memberList(params: URLSearchParams, prefix: string): Record<string, string>[] {
  const items = new Map<number, Record<string, string>>();
  const pattern = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.member\\.(\\d+)(?:\\.(.+))?$`);
  for (const [k, v] of params) {
    const m = pattern.exec(k);
    if (!m) continue;
    const item = items.get(Number(m[1])) ?? {};
    item[m[2] ?? ''] = v;
    items.set(Number(m[1]), item);
  }
  return [...items.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
}

/** A required parameter, or AWS's ValidationError naming it. */
export function required(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') {
    throw new QueryError(
      'ValidationError',
      `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}
