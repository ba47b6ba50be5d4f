import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../../..');
const RATE = 50;
const SECONDS = 10;

/**
 * A short `npm run bench` (tools/bench.ts as a process, the real embedded stack) as a regression guard.
 *
 * The floor is deliberately far below the pipeline's aim (1,000 orders/s) and below what a quiet 2-core machine
 * does: CI machines are shared, and this bench runs the emulators (a JVM among them), three Raft nodes with fsync,
 * a dozen worker processes and the load generator on the same cores, so its absolute throughput swings by a factor
 * of 3 with the machine's load. What it must catch is a break, not a few percent: execute falling back to one call
 * per order or getting stuck (throughput collapses well below the floor), or any order lost or executed twice,
 * which no machine load excuses. The first seconds of the step include the pipeline filling up (tick→command alone
 * is ~2.5 s at load), so orders/s while offered sits below the rate even on a quiet machine: at load average ~30
 * this machine did 27 orders/s (55 %) in a 15 s step and 14.6 (29 %) in a 10 s step, and a CI run with the browser
 * and WebSocket suites beside it 7.6 (15 %) — 76 of 500 orders, the rest after the step. Hence 10 %: a stuck execute
 * still fails it (and lost/duplicates below). The one CI run with a 20 s step instead failed the browser suite running
 * in parallel, probably from the added load. The headline figures live in docs/performance.md, measured by hand.
 */
const MIN_SHARE_EXECUTED_WHILE_OFFERED = 0.1;

interface Step {
  rate: number;
  ticksPerSecond: number;
  ordersPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  ticks: number;
  commands: number;
  executed: number;
  cpuMsPerOrder: number | null;
  duplicates: number;
  lost: number;
  liveDeliveryBacklog: number;
}

describe('bench guard (a short npm run bench with --json)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-guard-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`executes one order per tick at ${RATE}/s with no order lost or duplicated, above a relaxed floor`, async () => {
    const json = join(dir, 'bench.json');
    // The emulators of jest's global setup are not the bench's: it starts its own stack, reached through its edge.
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('AWS_ENDPOINT_URL')) delete env[k];
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'tools/bench.ts',
        '--strategy',
        'load-test-every-tick',
        '--rates',
        String(RATE),
        '--seconds',
        String(SECONDS),
        '--warmup',
        '5',
        // Two symbols beyond the eight named ones: the generated names go through the whole pipeline too.
        '--symbols',
        '10',
        '--data-dir',
        join(dir, 'data'),
        '--json',
        json,
      ],
      { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    // Exit 0 means the bench's closing verify held over the whole run (warm-up included).
    if (code !== 0) throw new Error(`bench exited ${code}:\n${output.slice(-4000)}`);
    // Not a TTY here: the progress bar prints whole lines.
    expect(output).toMatch(/progress: \[[#.]+\] step 1\/1 \| (\d+m)?\d+s elapsed, ~(\d+m)?\d+s left \| /);

    expect(output).toMatch(/\b10 symbols\b/);
    const symbols = new Set(
      readFileSync(join(dir, 'data', 'records', 'events.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => (JSON.parse((JSON.parse(line) as { body: string }).body) as { symbol: string }).symbol),
    );
    expect([...symbols].sort()).toEqual(
      ['AAPL', 'AMZN', 'GOOG', 'META', 'MSFT', 'NFLX', 'NVDA', 'SYM10', 'SYM9', 'TSLA'].sort(),
    );

    const steps = JSON.parse(readFileSync(json, 'utf8')) as Step[];
    expect(steps).toHaveLength(1);
    const [step] = steps as [Step];
    expect(step.rate).toBe(RATE);
    expect(step.duplicates).toBe(0);
    expect(step.lost).toBe(0);
    // One order per tick: every offered tick landed (the sender catches up when the stream is slow; it used to stop
    // at the step's end, landing 210 of 500 in one loaded CI run), made a command, and has its event after the drain.
    expect(step.ticks).toBe(RATE * SECONDS);
    expect(step.commands).toBeGreaterThanOrEqual(step.ticks * 0.98);
    expect(step.executed).toBe(step.commands);
    expect(step.ordersPerSecond).toBeGreaterThanOrEqual(RATE * MIN_SHARE_EXECUTED_WHILE_OFFERED);
    expect(step.cpuMsPerOrder).toBeGreaterThan(0);
    expect(step.p50Ms).not.toBeNull();
    // Read from the notifier's two queues (a count, not a goal: the step does not wait for live delivery).
    expect(Number.isInteger(step.liveDeliveryBacklog) && step.liveDeliveryBacklog >= 0).toBe(true);
  }, 420_000);
});
