import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { LogsApi, LogsApiError } from './api';
import { LogStore } from './store';

export const LOGS_TARGET_PREFIX = 'Logs_20140328.';
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const DEFAULT_ACCOUNT_ID = '000000000000';

export interface LogsEmulatorOptions {
  /** Folder for the journal; in memory when absent. */
  dataDir?: string;
  /** Clock for ingestion times and retention; injectable for tests. */
  now?: () => number;
  defaultRegion?: string;
}

/** The emulator as a request handler, so the edge can serve it in-process without a hop. */
export interface LogsEmulator {
  readonly store: LogStore;
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

export function createLogsEmulator(opts: LogsEmulatorOptions = {}): LogsEmulator {
  const store = LogStore.open(opts.dataDir, opts.now);
  const api = new LogsApi(store);
  const defaultRegion = opts.defaultRegion ?? 'us-east-1';
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST') {
      send(res, 200, { service: 'logs', status: 'running' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_REQUEST_BYTES) {
        sendError(res, new LogsApiError('InvalidParameterException', `request body over ${MAX_REQUEST_BYTES} bytes`));
        return;
      }
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target.startsWith(LOGS_TARGET_PREFIX)) {
        sendError(
          res,
          new LogsApiError(
            'UnknownOperationException',
            `expected header X-Amz-Target: ${LOGS_TARGET_PREFIX}<Action>, got '${target}'`,
          ),
        );
        return;
      }
      let input: unknown;
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        input = text.trim() === '' ? {} : (JSON.parse(text) as unknown);
      } catch {
        sendError(res, new LogsApiError('SerializationException', 'request body is not valid JSON'));
        return;
      }
      const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
      try {
        const output = api.handle(target.slice(LOGS_TARGET_PREFIX.length), input, {
          region: region ?? defaultRegion,
          accountId: DEFAULT_ACCOUNT_ID,
        });
        send(res, 200, output);
      } catch (err) {
        if (err instanceof LogsApiError) sendError(res, err);
        else send(res, 500, { __type: 'ServiceUnavailableException', message: (err as Error).message });
      }
    });
  };
  return { store, handle, close: () => store.close() };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(payload);
}

function sendError(res: ServerResponse, err: LogsApiError): void {
  res.setHeader('x-amzn-errortype', err.type);
  send(res, 400, { __type: err.type, message: err.message });
}

export interface RunningLogsEmulator {
  readonly endpoint: string;
  readonly port: number;
  readonly emulator: LogsEmulator;
  stop(): Promise<void>;
}

/** Runs the emulator as its own HTTP server (the edge serves it in-process instead). */
export async function startLogsEmulator(
  opts: LogsEmulatorOptions & { port?: number; host?: string } = {},
): Promise<RunningLogsEmulator> {
  const emulator = createLogsEmulator(opts);
  const server = createServer({ keepAlive: true }, emulator.handle);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    emulator,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      emulator.close();
    },
  };
}
