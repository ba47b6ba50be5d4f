import { randomUUID } from 'node:crypto';
import type { Invoker } from './types';

/** Milliseconds between runs for an EventBridge Scheduler `rate(...)` expression; throws on anything else. */
export function rateMs(expression: string): number {
  const m = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (!m)
    throw new Error(`schedule expression "${expression}" is not supported locally (only rate(N minutes|hours|days))`);
  const unit = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[
    (m[2] as string).replace(/s$/, '') as 'minute' | 'hour' | 'day'
  ];
  return Number(m[1]) * unit;
}

/**
 * Fires a function on a rate schedule, as EventBridge Scheduler's Lambda target does (an asynchronous
 * invoke whose Input has Scheduler's context attributes filled in). Runs once at start, then every
 * period, so a local run does not wait a whole period for the first tick.
 */
export class RateSchedule {
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  /**
   * Set by stop(). A stack that stops kills its scheduled functions' running workers (a feed runs for its whole
   * period); the invocations this ends fail with Runtime.ExitError, which is the shutdown, not a failure to report.
   */
  private stopping = false;

  constructor(
    private readonly scheduleArn: string,
    private readonly expression: string,
    private readonly input: string | undefined,
    private readonly fn: Invoker,
    private readonly onError: (message: string) => void,
  ) {}

  start(): void {
    const period = rateMs(this.expression);
    this.fire();
    this.timer = setInterval(() => this.fire(), period);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private fire(): void {
    const text = (this.input ?? '{}')
      .replaceAll('<aws.scheduler.scheduled-time>', new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'))
      .replaceAll('<aws.scheduler.execution-id>', randomUUID())
      .replaceAll('<aws.scheduler.schedule-arn>', this.scheduleArn)
      .replaceAll('<aws.scheduler.attempt-number>', '1');
    const run = this.fn.invoke(JSON.parse(text)).then(
      (r) => {
        if (!r.ok && !(this.stopping && r.error.errorType === 'Runtime.ExitError'))
          this.onError(
            `schedule ${this.scheduleArn}: ${this.fn.name} failed: ${r.error.errorType}: ${r.error.errorMessage}`,
          );
      },
      (err: unknown) => this.onError(`schedule ${this.scheduleArn}: ${(err as Error).message}`),
    );
    this.inFlight.add(run);
    void run.finally(() => this.inFlight.delete(run));
  }
}
