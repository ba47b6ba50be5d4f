import { performance } from 'node:perf_hooks';
import type { Order } from '../../shared/domain/order';
import { percentile } from '../bench-raft';

/**
 * An open-loop load at a steady rate, for telling a stall from a busy machine: requests leave on a fixed schedule
 * whatever the answers do, and each one's latency is counted from when it was *due*, not from when it was sent —
 * so a node that stops for 300 ms shows 300 ms on every request due meanwhile (a closed-loop client would just
 * send less and hide it: coordinated omission). A script's helper; it asserts nothing.
 */

export interface PacedOptions {
  /** Orders per second. */
  rate: number;
  /** Orders per request. */
  batch: number;
  seconds: number;
  /** Requests in flight beyond which a due request is counted as not sent (the node is too slow, or stopped). */
  maxInFlight?: number;
  /** Sends one request of these orders; resolves when the ledger answered. */
  send(orders: Order[]): Promise<unknown>;
  /** A progress line every few seconds. */
  log(line: string): void;
  signal?: AbortSignal;
}

/** One answered request: when it was due and when it was answered (epoch ms), and its latency from due (ms). */
export interface PacedSample {
  dueAt: number;
  doneAt: number;
  ms: number;
}

export interface PacedResult {
  samples: PacedSample[];
  failed: number;
  /** Requests not sent because maxInFlight were already waiting. */
  skipped: number;
  startedAt: number;
  endedAt: number;
}

/** Requests in flight past which a due one is not sent (PacedOptions.maxInFlight's default). */
export const DEFAULT_MAX_IN_FLIGHT = 512;
const TICK_MS = 2;
const PROGRESS_MS = 5_000;

export async function pacedLoad(opts: PacedOptions): Promise<PacedResult> {
  const intervalMs = (1000 * opts.batch) / opts.rate;
  const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const run = `paced-${process.pid}-${Date.now().toString(36)}`;
  const samples: PacedSample[] = [];
  const pending = new Set<Promise<void>>();
  let sent = 0;
  let failed = 0;
  let skipped = 0;
  let windowMax = 0;
  // Epoch and monotonic clocks side by side: samples are matched with the nodes' log timestamps (epoch).
  const epoch0 = Date.now();
  const mono0 = performance.now();
  const now = () => epoch0 + (performance.now() - mono0);
  const fire = (k: number) => {
    const dueAt = epoch0 + k * intervalMs;
    if (pending.size >= maxInFlight) {
      skipped++;
      return;
    }
    const orders = Array.from({ length: opts.batch }, (_, j) => order(`${run}-${k * opts.batch + j}`, k + j));
    const p: Promise<void> = opts.send(orders).then(
      () => {
        const doneAt = now();
        samples.push({ dueAt, doneAt, ms: doneAt - dueAt });
        windowMax = Math.max(windowMax, doneAt - dueAt);
      },
      () => void failed++,
    );
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const progress = setInterval(() => {
    opts.log(
      `${sent * opts.batch} orders due, ${samples.length} requests answered, ${pending.size} in flight, ` +
        `${failed} failed, ${skipped} skipped; longest latency from due in the last ${PROGRESS_MS / 1000} s ` +
        `${windowMax.toFixed(0)} ms`,
    );
    windowMax = 0;
  }, PROGRESS_MS);
  const total = Math.floor((opts.seconds * 1000) / intervalMs);
  try {
    while (sent < total && !opts.signal?.aborted) {
      const due = Math.min(total, Math.floor((now() - epoch0) / intervalMs) + 1);
      while (sent < due) fire(sent++);
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    await Promise.allSettled([...pending]);
  } finally {
    clearInterval(progress);
  }
  return { samples, failed, skipped, startedAt: epoch0, endedAt: now() };
}

function order(orderId: string, n: number): Order {
  return {
    orderId,
    account: `acct-paced-${n % 64}`,
    symbol: `SYM${n % 50}`,
    side: n % 2 ? 'BUY' : 'SELL',
    quantity: 1,
    price: 10,
  };
}

/** A time window [from, to] (epoch ms), e.g. while a node took a snapshot. */
export interface Window {
  from: number;
  to: number;
}

export interface LatencySummary {
  requests: number;
  p50: number;
  p99: number;
  max: number;
}

function summarize(ms: number[]): LatencySummary {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    requests: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
  };
}

/** Latencies of the requests that overlapped one of `windows` (due before it ended, answered after it began), and of the rest. */
export function splitByWindows(samples: PacedSample[], windows: Window[]) {
  const overlaps = (s: PacedSample) => windows.some((w) => s.dueAt <= w.to && s.doneAt >= w.from);
  return {
    during: summarize(samples.filter(overlaps).map((s) => s.ms)),
    outside: summarize(samples.filter((s) => !overlaps(s)).map((s) => s.ms)),
  };
}

export function formatSummary(s: LatencySummary): string {
  if (s.requests === 0) return 'no requests';
  return `${s.requests} requests, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(0)} ms`;
}
