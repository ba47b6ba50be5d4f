/**
 * fauxqs names queues `http://sqs.<region>.<host>:<port>/<account>/<name>` — a host name that does not
 * resolve. The SQS SDK sends requests to the queue URL's host unless the client has an explicit
 * endpoint (clients configured by AWS_ENDPOINT_URL have none), so the edge hands out queue URLs on its
 * own address (`http://<edge>/<account>/<name>`) and maps them back before forwarding.
 */

const FAUXQS_URL = /^https?:\/\/sqs\.[^./]+\.[^/]+\/(\d+)\/([^/?#]+)$/;
const EDGE_STYLE_URL = /^https?:\/\/([^/]+)\/(\d+)\/([^/?#]+)$/;

export interface SqsUrlContext {
  /** The Host header the client used to reach the edge. */
  edgeHost: string;
  /** The fauxqs backend, e.g. `http://127.0.0.1:9324`. */
  backendEndpoint: string;
  /** The region the request is signed for; fauxqs keys queues by it. */
  region: string;
}

/** Edge-style queue URL → the URL fauxqs knows. Anything else is left as it is. */
export function toBackendQueueUrl(url: string, ctx: SqsUrlContext): string {
  const m = EDGE_STYLE_URL.exec(url);
  if (!m || m[1] !== ctx.edgeHost) return url;
  const backend = new URL(ctx.backendEndpoint);
  return `http://sqs.${ctx.region}.${backend.hostname}:${backend.port}/${m[2]}/${m[3]}`;
}

/** fauxqs queue URL → edge-style queue URL. */
export function toEdgeQueueUrl(url: string, ctx: SqsUrlContext): string {
  const m = FAUXQS_URL.exec(url);
  return m ? `http://${ctx.edgeHost}/${m[1]}/${m[2]}` : url;
}

/** Rewrites the QueueUrl of a JSON-protocol request body; returns undefined when nothing changes. */
export function rewriteSqsRequest(body: string, ctx: SqsUrlContext): string | undefined {
  const parsed = parseJsonObject(body);
  if (!parsed || typeof parsed.QueueUrl !== 'string') return undefined;
  const rewritten = toBackendQueueUrl(parsed.QueueUrl, ctx);
  if (rewritten === parsed.QueueUrl) return undefined;
  return JSON.stringify({ ...parsed, QueueUrl: rewritten });
}

/** Rewrites queue URLs in a JSON-protocol response body (QueueUrl, QueueUrls, queueUrls); undefined when unchanged. */
export function rewriteSqsResponse(body: string, ctx: SqsUrlContext): string | undefined {
  const parsed = parseJsonObject(body);
  if (!parsed) return undefined;
  let changed = false;
  const out: Record<string, unknown> = { ...parsed };
  if (typeof parsed.QueueUrl === 'string') {
    out.QueueUrl = toEdgeQueueUrl(parsed.QueueUrl, ctx);
    changed ||= out.QueueUrl !== parsed.QueueUrl;
  }
  for (const key of ['QueueUrls', 'queueUrls']) {
    const list = parsed[key];
    if (Array.isArray(list)) {
      out[key] = list.map((u: unknown) => (typeof u === 'string' ? toEdgeQueueUrl(u, ctx) : u));
      changed = true;
    }
  }
  return changed ? JSON.stringify(out) : undefined;
}

/** The body as a JSON object; undefined when it is not JSON or not an object (the edge then leaves it as it is). */
function parseJsonObject(body: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}
