import { Agent, request } from 'node:http';

/**
 * The one plain HTTP/JSON client `npm run bench:raft` drives both etcd's JSON gateway and the ledger's HTTP API
 * with, so an HTTP-vs-HTTP ratio compares the servers, not two clients: node:http over keep-alive connections
 * (one per concurrent caller at most), a JSON body, the JSON answer parsed.
 */

export interface KeepAliveHttp {
  agent: Agent;
  close(): void;
}

export function keepAliveHttp(maxSockets = 256): KeepAliveHttp {
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  return { agent, close: () => agent.destroy() };
}

export interface JsonReply {
  status: number;
  body: unknown;
}

export function postJson(
  http: KeepAliveHttp,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<JsonReply> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent: http.agent,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: the raw text is the body, for the error message
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}
