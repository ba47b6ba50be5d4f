/**
 * A progress line for long-running commands: step i/n, elapsed / estimated remaining, what runs now. On a TTY
 * it is redrawn in place (on stderr, so stdout stays the results); otherwise (CI logs, pipes) it prints one line
 * every `intervalMs`, since carriage returns would pile up there. Log lines go through `log` so the bar is
 * cleared first and redrawn after them.
 */
export interface ProgressOptions {
  steps: number;
  /** The expected seconds of the whole run, for the remaining-time estimate (updated as steps finish). */
  expectedSeconds: number;
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
}

const WIDTH = 24;

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The bar's text, without any terminal control characters (pure, for the tests). */
export function progressLine(p: {
  step: number;
  steps: number;
  elapsedSeconds: number;
  remainingSeconds: number;
  status: string;
}): string {
  const done = Math.min(1, p.elapsedSeconds / Math.max(1, p.elapsedSeconds + p.remainingSeconds));
  const filled = Math.round(done * WIDTH);
  return (
    `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] step ${p.step}/${p.steps} | ` +
    `${formatDuration(p.elapsedSeconds)} elapsed, ~${formatDuration(p.remainingSeconds)} left | ${p.status}`
  );
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private step = 0;
  private status = 'starting';
  private expectedSeconds: number;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.expectedSeconds = opts.expectedSeconds;
    const tty = this.stream.isTTY === true;
    this.timer = setInterval(() => this.draw(), tty ? 500 : (opts.intervalMs ?? 5000));
    this.timer.unref();
  }

  /** Moves to step `step` (1-based) with a new status; `expectedSeconds` re-estimates the whole run. */
  update(step: number, status: string, expectedSeconds?: number): void {
    this.step = step;
    this.status = status;
    if (expectedSeconds !== undefined) this.expectedSeconds = expectedSeconds;
    if (this.stream.isTTY) this.draw();
  }

  log(line: string): void {
    this.clear();
    process.stdout.write(`${line}\n`);
    if (this.stream.isTTY && this.drawn) this.draw();
  }

  stop(): void {
    clearInterval(this.timer);
    this.clear();
  }

  private text(): string {
    const elapsed = (Date.now() - this.started) / 1000;
    return progressLine({
      step: this.step,
      steps: this.opts.steps,
      elapsedSeconds: elapsed,
      remainingSeconds: Math.max(0, this.expectedSeconds - elapsed),
      status: this.status,
    });
  }

  private draw(): void {
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${this.text().slice(0, (this.stream.columns || 120) - 1)}`);
      this.drawn = true;
    } else this.stream.write(`progress: ${this.text()}\n`);
  }

  private clear(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write('\r\x1b[2K');
  }
}
