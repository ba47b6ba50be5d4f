/**
 * The process a local Lambda "execution environment" runs: loads the handler module once (the cold
 * start), then answers invocations from the runtime over the node IPC channel. function-pool.ts starts it
 * bundled to plain JS, with the TypeScript loader too when the module is TypeScript (a test's handler).
 *
 * Output is forwarded over the same IPC channel as the results, so a line printed during an
 * invocation is always logged before that invocation's END line (pipes would race the result).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { format } from 'node:util';
import { PARENT_WATCH_ENV, watchParent } from '../../shared/process/parent-watch';
import type { HostToWorker, InvokeError, WorkerToHost } from './types';

type Handler = (
  event: unknown,
  context: Record<string, unknown>,
  callback?: (err: unknown, value?: unknown) => void,
) => unknown;

const send = (msg: WorkerToHost): void => {
  process.send?.(msg);
};

let currentRequestId: string | undefined;

function forwardStream(stream: NodeJS.WriteStream): void {
  stream.write = ((chunk: string | Uint8Array, encodingOrCb?: unknown, cb?: unknown): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    send({ type: 'log', text });
    const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  }) as typeof stream.write;
}

/** Lambda's Node runtime prefixes console output with the time, request id and level; so do we. */
function patchConsole(): void {
  const levels: [keyof Console, string][] = [
    ['log', 'INFO'],
    ['info', 'INFO'],
    ['warn', 'WARN'],
    ['error', 'ERROR'],
    ['debug', 'DEBUG'],
    ['trace', 'TRACE'],
  ];
  for (const [method, level] of levels) {
    const target = level === 'ERROR' || level === 'WARN' ? process.stderr : process.stdout;
    (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      const line = `${new Date().toISOString()}\t${currentRequestId ?? 'undefined'}\t${level}\t${format(...args)}`;
      target.write(`${line.replace(/\n/g, '\r')}\n`);
    };
  }
}

function toInvokeError(err: unknown, fallbackType: string): InvokeError {
  if (err instanceof Error) {
    return { errorType: err.name || fallbackType, errorMessage: err.message, stack: err.stack?.split('\n') };
  }
  return { errorType: fallbackType, errorMessage: typeof err === 'string' ? err : JSON.stringify(err) };
}

async function loadHandler(modulePath: string, exportName: string): Promise<Handler> {
  // Lambda loads CommonJS bundles with require and .mjs with import; so do we.
  const mod = (
    modulePath.endsWith('.mjs') ? await import(pathToFileURL(modulePath).href) : createRequire(__filename)(modulePath)
  ) as Record<string, unknown>;
  const fn = mod[exportName] ?? (mod.default as Record<string, unknown> | undefined)?.[exportName];
  if (typeof fn !== 'function') {
    throw Object.assign(new Error(`${modulePath} does not export a function named '${exportName}'`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  return fn as Handler;
}

function invokeHandler(handler: Handler, event: unknown, context: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err: unknown, value?: unknown) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve(value);
    };
    try {
      const out = handler(event, context, callback);
      if (out && typeof (out as Promise<unknown>).then === 'function') {
        (out as Promise<unknown>).then(
          (v) => callback(null, v),
          (e: unknown) => callback(e ?? new Error('handler rejected')),
        );
      } else if (handler.length < 3) {
        callback(null, out);
      }
    } catch (err) {
      callback(err);
    }
  });
}

function main(): void {
  const [modulePath, exportName] = process.argv.slice(2);
  if (!modulePath || !exportName) throw new Error('usage: worker-host <modulePath> <exportName>');
  forwardStream(process.stdout);
  forwardStream(process.stderr);
  patchConsole();
  const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'unknown';
  const region = process.env.AWS_REGION ?? 'us-east-1';
  loadHandler(modulePath, exportName).then(
    (handler) => {
      process.on('message', (raw: HostToWorker) => {
        if (raw.type !== 'invoke') return;
        currentRequestId = raw.requestId;
        process.env._X_AMZN_TRACE_ID = raw.traceId;
        const context = {
          functionName,
          functionVersion: '$LATEST',
          invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
          memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '128',
          awsRequestId: raw.requestId,
          logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
          logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
          callbackWaitsForEmptyEventLoop: true,
          getRemainingTimeInMillis: () => Math.max(0, raw.deadlineMs - Date.now()),
        };
        invokeHandler(handler, raw.event, context).then(
          (payload) => send({ type: 'result', requestId: raw.requestId, ok: true, payload: payload ?? null }),
          (err: unknown) => {
            const error = toInvokeError(err, 'Error');
            console.error(`Invoke Error \t${JSON.stringify(error)}`);
            send({ type: 'result', requestId: raw.requestId, ok: false, error });
          },
        );
      });
      send({ type: 'ready' });
    },
    (err: unknown) => {
      const error = toInvokeError(err, 'Runtime.ImportModuleError');
      console.error(`INIT_ERROR\t${JSON.stringify(error)}`);
      send({ type: 'init-error', error });
    },
  );
}

// The runtime that forked us talks to us only over the IPC channel; when that closes the runtime is gone
// (ended in any way, SIGKILL included), and an environment nobody can invoke must not linger. Always on:
// this script means nothing without its runtime.
watchParent(() => process.exit(0), { [PARENT_WATCH_ENV]: 'ipc' });

// A rejection nobody handles kills the environment, as in Lambda's Node runtime.
process.on('unhandledRejection', (reason) => {
  console.error(`Unhandled Promise Rejection\t${String(reason)}`);
  process.exit(128);
});
main();
