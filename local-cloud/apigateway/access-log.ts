/**
 * An access log line from a stage's AccessLogSettings.Format: each `$context.<name>` is replaced by the request's
 * value, `-` when it has none (as API Gateway does). Inside a JSON format the values are JSON-escaped.
 */
export function formatAccessLog(format: string, context: Record<string, string | number | undefined>): string {
  const json = format.trim().startsWith('{');
  return format.replace(/\$context\.([A-Za-z0-9_.]+)/g, (_, name: string) => {
    const v = context[name];
    const text = v === undefined || v === '' ? '-' : String(v);
    return json ? JSON.stringify(text).slice(1, -1) : text;
  });
}
