/**
 * One raw HTTP call to a Raft node for the API tests: no redirect following (a 307 is what they check), a string
 * body is sent as is (for malformed JSON), and the JSON answer is parsed.
 */
export async function callNode(url: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    redirect: 'manual',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}
