/*
 * HTTP API route selection, as API Gateway documents it: the most specific route wins — literal segments over
 * `{param}`, a `{param}` over a greedy `{proxy+}`, a route for the method over `ANY`, and `$default` last.
 * Hand-written: it is AWS's own precedence rule, which no router library implements as such.
 */

export interface RouteMatch<R> {
  route: R;
  pathParameters: Record<string, string>;
}

interface Parsed {
  method: string;
  segments: string[];
  greedy: boolean;
}

function parseKey(routeKey: string): Parsed | undefined {
  const space = routeKey.indexOf(' ');
  if (space < 0) return undefined;
  const method = routeKey.slice(0, space).toUpperCase();
  const segments = routeKey
    .slice(space + 1)
    .split('/')
    .filter((s) => s !== '');
  const last = segments[segments.length - 1];
  return { method, segments, greedy: last !== undefined && /^\{[^}]+\+\}$/.test(last) };
}

/** A specificity score per segment: literal 2, `{param}` 1, greedy 0 — compared segment by segment, left first. */
function score(p: Parsed): number[] {
  return p.segments.map((s) => (/^\{.+\+\}$/.test(s) ? 0 : /^\{.+\}$/.test(s) ? 1 : 2));
}

function matchPath(p: Parsed, path: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  const fixed = p.greedy ? p.segments.length - 1 : p.segments.length;
  if (p.greedy ? path.length <= fixed : path.length !== fixed) return undefined;
  for (let i = 0; i < fixed; i++) {
    const seg = p.segments[i] as string;
    const value = path[i] as string;
    const name = /^\{(.+)\}$/.exec(seg)?.[1];
    if (name) params[name] = decodeSegment(value);
    else if (seg !== value) return undefined;
  }
  if (p.greedy) {
    const name = (p.segments[fixed] as string).slice(1, -2);
    params[name] = path.slice(fixed).map(decodeSegment).join('/');
  }
  return params;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function compare(a: { p: Parsed; s: number[] }, b: { p: Parsed; s: number[] }): number {
  if (a.p.greedy !== b.p.greedy) return a.p.greedy ? 1 : -1;
  for (let i = 0; i < Math.max(a.s.length, b.s.length); i++) {
    const d = (b.s[i] ?? -1) - (a.s[i] ?? -1);
    if (d !== 0) return d;
  }
  if ((a.p.method === 'ANY') !== (b.p.method === 'ANY')) return a.p.method === 'ANY' ? 1 : -1;
  return 0;
}

/** The route an HTTP request selects, with its path parameters; `$default` when no other matches. */
export function selectHttpRoute<R extends { routeKey: string }>(
  routes: readonly R[],
  method: string,
  path: string,
): RouteMatch<R> | undefined {
  const segments = path.split('/').filter((s) => s !== '');
  const candidates: { route: R; p: Parsed; s: number[]; params: Record<string, string> }[] = [];
  for (const route of routes) {
    const p = parseKey(route.routeKey);
    if (!p || (p.method !== 'ANY' && p.method !== method.toUpperCase())) continue;
    const params = matchPath(p, segments);
    if (params) candidates.push({ route, p, s: score(p), params });
  }
  candidates.sort(compare);
  const best = candidates[0];
  if (best) return { route: best.route, pathParameters: best.params };
  const fallback = routes.find((r) => r.routeKey === '$default');
  return fallback ? { route: fallback, pathParameters: {} } : undefined;
}

/**
 * Evaluates a WebSocket RouteSelectionExpression such as `$request.body.action` (nested paths allowed) against a
 * message; undefined when the message is not JSON or has no such property (the `$default` route then applies).
 */
export function selectionValue(expression: string, body: string): string | undefined {
  const m = /^\$request\.body\.(.+)$/.exec(expression.trim());
  if (!m?.[1]) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  for (const key of m[1].split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : undefined;
}
