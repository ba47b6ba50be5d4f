import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { bundledScript } from '../process-bundle';
import type { LogSink } from './log-sink';
import type { FunctionSpec, InvokeError, InvokeResult, Invoker, WorkerToHost } from './types';

const HOST_SOURCE = resolve(__dirname, 'worker-host.ts');
/**
 * How a worker starts: the host bundled to plain JS (process-bundle.ts: ready in less than half the time, a third of
 * the CPU); a module that is TypeScript itself (a test's handler) needs the TypeScript loader as well.
 */
function hostCommand(modulePath: string): { script: string; loader: string[] } {
  return {
    script: bundledScript(HOST_SOURCE, 'runtime/worker-host.js'),
    loader: /\.[cm]?tsx?$/.test(modulePath) ? ['--import', 'tsx'] : [],
  };
}
const INIT_TIMEOUT_MS = 30_000;

interface Worker {
  id: string;
  child: ChildProcess;
  logStream: string;
  busy: boolean;
  dead: boolean;
  /** Settles the invocation in progress, if any, when the process dies. */
  onExit?: (description: string) => void;
  onMessage?: (msg: WorkerToHost) => void;
}

/** `2026/11/22/[$LATEST]<32 hex>`: Lambda's log stream name for one execution environment. */
function logStreamName(): string {
  const d = new Date();
  const day = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

export interface FunctionPoolOptions {
  /** Variables every function sees besides its own (region, credentials, endpoints). */
  baseEnv: Record<string, string>;
  logs: LogSink;
  region?: string;
}

/**
 * One local Lambda function: a pool of worker processes (execution environments), each reused for
 * many invocations as warm containers are. An invocation past the timeout kills its worker and
 * fails with Lambda's "Task timed out" error; a worker that exits mid-invocation fails it with
 * Runtime.ExitError. Output lands in `/aws/lambda/<name>` with START/END/REPORT lines.
 */
export class LambdaFunction implements Invoker {
  readonly arn: string;
  readonly logGroup: string;
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiters: (() => void)[] = [];
  private running = 0;
  private stopped = false;
  /** The worker prewarm is starting, until it is ready. */
  private warming: Promise<void> | undefined;

  constructor(
    readonly spec: FunctionSpec,
    private readonly opts: FunctionPoolOptions,
  ) {
    this.arn = `arn:aws:lambda:${opts.region ?? 'us-east-1'}:000000000000:function:${spec.name}`;
    this.logGroup = spec.logGroup ?? `/aws/lambda/${spec.name}`;
  }

  get name(): string {
    return this.spec.name;
  }

  /** The OS process ids of the live workers (chaos uses them to crash a worker). */
  workerPids(): number[] {
    return [...this.all].flatMap((w) => (w.dead || w.child.pid === undefined ? [] : [w.child.pid]));
  }

  async invoke(event: unknown): Promise<InvokeResult> {
    if (this.stopped) throw new Error(`function ${this.name} is stopped`);
    await this.acquireSlot();
    const requestId = randomUUID();
    const started = Date.now();
    let worker: Worker | undefined;
    try {
      worker = await this.takeWorker();
    } catch (err) {
      this.releaseSlot();
      const error = (err as { invokeError?: InvokeError }).invokeError ?? {
        errorType: 'Runtime.Unknown',
        errorMessage: (err as Error).message,
      };
      return { ok: false, requestId, error, durationMs: Date.now() - started };
    }
    try {
      return await this.runOn(worker, requestId, event);
    } finally {
      this.releaseSlot();
    }
  }

  /**
   * Starts one worker ahead of the first invocation (like provisioned concurrency), so a first invoke has no cold
   * start of its own: one that comes while this worker starts waits for it rather than starting another.
   */
  prewarm(): Promise<void> {
    if (this.stopped || this.all.size > 0) return this.warming ?? Promise.resolve();
    this.warming = this.spawnWorker()
      .then(
        (w) => void this.idle.push(w),
        // The init error is reported again (and logged) by the first invocation, which meets it as Lambda would.
        () => undefined,
      )
      .finally(() => (this.warming = undefined));
    return this.warming;
  }

  /** Kills the workers running an invocation now (those invocations fail with Runtime.ExitError); idle ones stay. */
  async killBusyWorkers(): Promise<number> {
    const busy = [...this.all].filter((w) => w.busy);
    await Promise.all(busy.map((w) => killWorker(w)));
    return busy.length;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.all].map((w) => killWorker(w)));
    this.all.clear();
    this.idle.length = 0;
  }

  private acquireSlot(): Promise<void> {
    const limit = this.spec.maxConcurrency ?? 10;
    if (this.running < limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolveSlot) =>
      this.waiters.push(() => {
        this.running++;
        resolveSlot();
      }),
    );
  }

  private releaseSlot(): void {
    this.running--;
    this.waiters.shift()?.();
  }

  private async takeWorker(): Promise<Worker> {
    if (this.idle.length === 0 && this.warming) await this.warming;
    for (;;) {
      // An invocation that waited for a slot or a warming worker while the function was stopped gets no worker:
      // one started now would outlive the stop (found by the WebSocket e2e test, whose 200 clients' $disconnect
      // invocations were still queued when its stack stopped, and left 12 workers running).
      if (this.stopped) throw new Error(`function ${this.name} is stopped`);
      const w = this.idle.pop();
      if (!w) return this.spawnWorker();
      if (!w.dead) return w;
    }
  }

  private spawnWorker(): Promise<Worker> {
    const id = randomBytes(4).toString('hex');
    const stream = logStreamName();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      TZ: 'UTC',
      ...this.opts.baseEnv,
      ...this.spec.environment,
      AWS_LAMBDA_FUNCTION_NAME: this.spec.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.spec.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: this.logGroup,
      AWS_LAMBDA_LOG_STREAM_NAME: stream,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      LAMBDA_TASK_ROOT: this.spec.modulePath.replace(/\/[^/]*$/, ''),
      _HANDLER: `${this.spec.modulePath}.${this.spec.exportName}`,
    };
    const host = hostCommand(this.spec.modulePath);
    const child = fork(host.script, [this.spec.modulePath, this.spec.exportName], {
      env,
      execArgv: [...host.loader, `--max-old-space-size=${Math.max(64, this.spec.memoryMb)}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // A process group of its own, so stopping the runtime can take any grandchildren with it.
      detached: true,
    });
    const worker: Worker = { id, child, logStream: stream, busy: false, dead: false };
    this.all.add(worker);
    // Anything written around the IPC forwarding (native code, grandchildren) still reaches the logs.
    const raw = (chunk: Buffer) => this.log(worker, chunk.toString('utf8'));
    child.stdout?.on('data', raw);
    child.stderr?.on('data', raw);
    child.on('message', (msg: WorkerToHost) => {
      if (msg.type === 'log') this.log(worker, msg.text);
      else worker.onMessage?.(msg);
    });
    child.on('exit', (code, signal) => {
      worker.dead = true;
      this.all.delete(worker);
      worker.onExit?.(signal ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal}` : `exit status ${code}`);
    });
    const initStart = Date.now();
    return new Promise<Worker>((resolveWorker, reject) => {
      const fail = (error: InvokeError) => {
        clearTimeout(timer);
        worker.onMessage = undefined;
        worker.onExit = undefined;
        void killWorker(worker);
        reject(Object.assign(new Error(error.errorMessage), { invokeError: error }));
      };
      const timer = setTimeout(
        () => fail({ errorType: 'Runtime.InitTimeout', errorMessage: `init did not finish in ${INIT_TIMEOUT_MS} ms` }),
        INIT_TIMEOUT_MS,
      );
      worker.onMessage = (msg) => {
        if (msg.type === 'ready') {
          clearTimeout(timer);
          worker.onMessage = undefined;
          worker.onExit = undefined;
          this.log(worker, `INIT_REPORT Init Duration: ${(Date.now() - initStart).toFixed(2)} ms\n`);
          resolveWorker(worker);
        } else if (msg.type === 'init-error') fail(msg.error);
      };
      worker.onExit = (description) =>
        fail({
          errorType: 'Runtime.ExitError',
          errorMessage: `RequestId: init Error: Runtime exited with error: ${description}`,
        });
    });
  }

  private runOn(worker: Worker, requestId: string, event: unknown): Promise<InvokeResult> {
    const started = Date.now();
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    worker.busy = true;
    this.log(worker, `START RequestId: ${requestId} Version: $LATEST\n`);
    return new Promise<InvokeResult>((resolveResult) => {
      let settled = false;
      const finish = (result: InvokeResult, reuse: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.onMessage = undefined;
        worker.onExit = undefined;
        worker.busy = false;
        const duration = Date.now() - started;
        this.log(worker, `END RequestId: ${requestId}\n`);
        const status = result.ok
          ? ''
          : result.error.errorType === 'Sandbox.Timedout'
            ? '\tStatus: timeout'
            : result.error.errorType === 'Runtime.ExitError'
              ? '\tStatus: error\tError Type: Runtime.ExitError'
              : '';
        this.log(
          worker,
          `REPORT RequestId: ${requestId}\tDuration: ${duration.toFixed(2)} ms\tBilled Duration: ${Math.ceil(duration)} ms\tMemory Size: ${this.spec.memoryMb} MB${status}\n`,
        );
        if (reuse && !worker.dead && !this.stopped) this.idle.push(worker);
        resolveResult({ ...result, durationMs: duration });
      };
      const timer = setTimeout(() => {
        const message = `${new Date().toISOString()} ${requestId} Task timed out after ${this.spec.timeoutSeconds.toFixed(2)} seconds`;
        this.log(worker, `${message}\n`);
        void killWorker(worker);
        finish(
          { ok: false, requestId, error: { errorType: 'Sandbox.Timedout', errorMessage: message }, durationMs: 0 },
          false,
        );
      }, timeoutMs);
      worker.onMessage = (msg) => {
        if (msg.type !== 'result' || msg.requestId !== requestId) return;
        if (msg.ok) finish({ ok: true, requestId, payload: msg.payload, durationMs: 0 }, true);
        else finish({ ok: false, requestId, error: msg.error, durationMs: 0 }, true);
      };
      const exited = (description: string) =>
        finish(
          {
            ok: false,
            requestId,
            error: {
              errorType: 'Runtime.ExitError',
              errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: ${description}`,
            },
            durationMs: 0,
          },
          false,
        );
      worker.onExit = exited;
      // A worker can die between being picked and this send (its exit not yet seen): the send then fails with
      // "Channel closed", which is that invocation's runtime exit, as on Lambda — not an error of the runtime itself
      // (uncaught, it failed a chaos run that kills execute's workers).
      const invoke = {
        type: 'invoke',
        requestId,
        event,
        deadlineMs: started + timeoutMs,
        traceId: `Root=1-${randomBytes(12).toString('hex')}`,
      };
      worker.child.send(invoke, (error) => {
        if (!error) return;
        worker.dead = true;
        void killWorker(worker);
        exited(error.message);
      });
    });
  }

  private log(worker: Worker, text: string): void {
    const now = Date.now();
    for (const line of text.split('\n'))
      if (line.length > 0) this.opts.logs.write(this.logGroup, worker.logStream, line, now);
  }
}

/** SIGKILL to the worker's process group (it may have children of its own); resolves when it has exited. */
async function killWorker(w: Worker): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => w.child.once('exit', () => r()));
  try {
    if (w.child.pid !== undefined) process.kill(-w.child.pid, 'SIGKILL');
  } catch {
    w.child.kill('SIGKILL');
  }
  await exited;
}
