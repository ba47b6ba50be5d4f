/** What the runtime needs to run one Lambda function locally (resolved from the CDK template or given by a test). */
export interface FunctionSpec {
  /** The physical function name; also names the log group `/aws/lambda/<name>`. */
  name: string;
  /** Absolute path of the module holding the handler: bundled JS from the cloud assembly, or TypeScript run through tsx. */
  modulePath: string;
  /** The exported handler function's name (`handler` for `index.handler`). */
  exportName: string;
  timeoutSeconds: number;
  memoryMb: number;
  environment: Record<string, string>;
  /** Log group for the function's output; default `/aws/lambda/<name>` (a template's LoggingConfig may name another). */
  logGroup?: string;
  /** Concurrent invocations allowed (reserved concurrency); further invocations wait their turn. */
  maxConcurrency?: number;
}

/** AWS's error shape for a failed invocation (the `errorType`/`errorMessage` pair Lambda reports). */
export interface InvokeError {
  errorType: string;
  errorMessage: string;
  stack?: string[];
}

export type InvokeResult =
  | { ok: true; requestId: string; payload: unknown; durationMs: number }
  | { ok: false; requestId: string; error: InvokeError; durationMs: number };

/** An invocable function, as the event source mappings see it. */
export interface Invoker {
  readonly name: string;
  readonly arn: string;
  invoke(event: unknown): Promise<InvokeResult>;
}

/** Messages between the runtime and a worker process (node IPC channel). */
export type HostToWorker = {
  type: 'invoke';
  requestId: string;
  event: unknown;
  deadlineMs: number;
  traceId: string;
};

export type WorkerToHost =
  | { type: 'ready' }
  | { type: 'init-error'; error: InvokeError }
  | { type: 'log'; text: string }
  | { type: 'result'; requestId: string; ok: true; payload: unknown }
  | { type: 'result'; requestId: string; ok: false; error: InvokeError };

/**
 * Where the event source mappings reach the services: the emulators themselves, as Lambda's pollers are
 * inside AWS (no edge hop). A service left out goes wherever the SDK's own configuration says.
 */
export interface ServiceEndpoints {
  kinesis?: string;
  sqs?: string;
}
