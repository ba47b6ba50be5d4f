import { appendFileSync } from 'node:fs';

/**
 * Latency tracing for finding where one write's time goes (docs/performance.md#where-one-write-goes):
 * with RAFT_TRACE_FILE set, `trace(event)` records a CLOCK_MONOTONIC stamp (the same clock in every process on a
 * machine, so the nodes' and the client's stamps merge into one timeline) and appends them to
 * `<RAFT_TRACE_FILE>.<pid>` in batches and at exit. Unset (always, outside a measurement) it is a no-op.
 * tools/bench-raft-trace.ts runs a cluster with it and prints the median time between consecutive events.
 */

const file = process.env.RAFT_TRACE_FILE;
const lines: string[] = [];

/** Appends the stamps recorded so far to the trace file (also done at exit and every 10,000 stamps). */
export function flushTrace(): void {
  if (!file || lines.length === 0) return;
  appendFileSync(`${file}.${process.pid}`, lines.join('\n') + '\n');
  lines.length = 0;
}

if (file) process.on('exit', flushTrace);

export const tracing = file !== undefined && file !== '';

export function trace(event: string): void {
  if (!tracing) return;
  lines.push(`${process.hrtime.bigint()} ${event}`);
  if (lines.length >= 10_000) flushTrace();
}
