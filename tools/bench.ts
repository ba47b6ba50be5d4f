/**
 * `npm run bench [-- --rates 100,200,400,800 --seconds 15 --warmup 10 --strategy stack|<name> --data-dir .data/bench --json FILE]`
 * Drives the embedded stack at rising tick rates (ticks written to the stream as ingest writes them) and
 * prints, per rate: ticks/s ingested, orders/s executed (order events published during the step),
 * tick→event latency p50/p95/p99 (of the step's ticks' events, once the step's backlog has drained) with its
 * stages (tick→command = stream + process, command→executed = commands queue + execute up to the ledger's leader
 * stamping the entry (executedTs), executed→event = the Raft commit, the publish and the events queue), duplicates (order ids executed twice: events with two seqs; must be 0), lost (commands
 * of the step's ticks with no event once the backlog drained; must be 0), and the CPU per executed order of
 * every process of the stack (split into emulators / raft / functions / bench).
 * A warm-up at the first rate runs first and is not measured. The stack's ~16 processes take about a minute of load
 * to warm their JITs (tick→event p50 fell from 667 to 183 ms over the first 80 s at 20/s; docs/performance.md), so
 * latency figures of a running pipeline want `--warmup 60`; the default stays short because a long warm-up at a rate
 * the stack cannot keep up with leaves a backlog (the drain waits at most a minute) that the first step would inherit.
 * Ends with verify over the whole run.
 * `--strategy stack` keeps the stack's strategy (MA crossover: few orders per tick); the load-test strategy
 * `load-test-every-tick` makes one order per tick, so the order rate equals the tick rate and the bench
 * measures execute's capacity. `--json FILE` writes the steps as a JSON array of StepResult (rewritten after
 * every step, so an interrupted run keeps the steps it finished).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { z } from 'zod';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { STRATEGY_OPTION, STRATEGY_USAGE, strategyContext, strategySchema } from './lib/strategy-option';
import { percentile, recordFiles, startLocalCloud, type RecordedMessage } from '../local-cloud';
import type { SqsMappingStats } from '../local-cloud/runtime/sqs-mapping';
import { putTicks, shardsFor, TickSource } from './lib/tick-driver';
import { executionKey } from './lib/event-tally';
import {
  cpuMsBetween,
  cpuMsByLabel,
  PROCESS_KINDS,
  sampleProcessTree,
  type ProcessKind,
  type TreeSample,
} from './lib/process-cpu';
import { Progress } from './lib/progress';
import { DYNAMODB_OPTION, dynamodbUsage, dynamodbOption, dynamodbSchema } from './lib/dynamodb-option';
import { readCommandRecords, verifyPipeline } from './lib/verify-pipeline';
import { clusterReader } from './targets/remote-raft';
import { printReport } from './verify';
import { sleep } from '../shared/util/wait';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { queueDepth } from '../shared/aws/queues';
import { createKinesisClient } from '../shared/aws/clients';

const NAMED_SYMBOLS = ['AAPL', 'MSFT', 'AMZN', 'GOOG', 'META', 'NVDA', 'TSLA', 'NFLX'];
/**
 * `n` symbols: the named ones first, then SYM9, SYM10, … Execute's FIFO message group is the symbol, so the symbol
 * count bounds how many group batches run at once.
 */
const benchSymbols = (n: number) => Array.from({ length: n }, (_, i) => NAMED_SYMBOLS[i] ?? `SYM${i + 1}`);

const command = defineCommand({
  name: 'npm run bench',
  usage: `usage: npm run bench -- [options]
  --rates N,N,...            tick rates to measure, ticks per second (default 100,200,400,800)
  --seconds S                measured seconds per rate (default 15)
  --warmup S                 unmeasured warm-up at the first rate (default 10)
  --shards N                 ticks stream shards (default: the highest rate ÷ 1,000, rounded up)
  --symbols N                symbols the ticks cycle through, each its own FIFO message group (default 8, 1–256)
${STRATEGY_USAGE}
${dynamodbUsage(29)}
  --data-dir DIR             emptied first, once the bench holds it (default .data/bench)
  --json FILE                also write the steps as a JSON array (rewritten after every step)
  --context K=V,K=V,...      more CDK context for the stack, any key of infra/config.ts (e.g.
                             kinesisBatchSize=500,kinesisParallelizationFactor=2), to measure a knob
Exit 0 when the final verify passes, 1 otherwise.`,
  options: {
    rates: { type: 'string', default: '100,200,400,800' },
    seconds: { type: 'string', default: '15' },
    'data-dir': { type: 'string', default: '.data/bench' },
    shards: { type: 'string' },
    symbols: { type: 'string', default: String(NAMED_SYMBOLS.length) },
    ...STRATEGY_OPTION,
    ...DYNAMODB_OPTION,
    warmup: { type: 'string', default: '10' },
    json: { type: 'string' },
    context: { type: 'string' },
  },
  schema: z
    .object({
      rates: z
        .string()
        .regex(/^\d+(,\d+)*$/, 'comma-separated ticks per second, e.g. 100,200,400')
        .transform((s) => s.split(',').map(Number)),
      seconds: z.coerce.number().int().min(3).max(600),
      'data-dir': z.string().min(1),
      shards: z.coerce.number().int().min(1).max(64).optional(),
      symbols: z.coerce.number().int().min(1).max(256),
      strategy: strategySchema,
      dynamodb: dynamodbSchema,
      warmup: z.coerce.number().int().min(0).max(600),
      json: z.string().min(1, 'a file name').optional(),
      context: z
        .string()
        .regex(/^\w+=[^,=]+(,\w+=[^,=]+)*$/, 'comma-separated key=value pairs, e.g. kinesisBatchSize=500')
        .transform((s) => Object.fromEntries(s.split(',').map((pair) => pair.split('=') as [string, string])))
        .optional(),
    })
    .transform((args) => ({ ...args, shards: args.shards ?? shardsFor(Math.max(...args.rates)) })),
});

interface Sample {
  orderId: string;
  /** The ledger's seq (null when rejected): with the order id, one execution. */
  seq: number | null;
  messageId: string;
  tickTs: number;
  commandTs: number;
  executedTs: number;
  sentAt: number;
}

/** One step of the bench, as `--json` writes it. Latencies are null when the step had no order events. */
export interface StepResult {
  /** Ticks per second offered. */
  rate: number;
  seconds: number;
  /** Ticks that landed on the stream / the seconds sending took. */
  ticksPerSecond: number;
  /** Ticks that landed on the stream: rate × seconds (a sender that falls behind sends late, not fewer). */
  ticks: number;
  /** Order events published while the step was sending / the seconds it sent for. */
  ordersPerSecond: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Commands (distinct orders) made from the step's ticks, and how many of them have an event after the drain. */
  commands: number;
  executed: number;
  /** CPU (user + sys) of every process of the stack from the step's start to the end of its drain / executed. */
  cpuMsPerOrder: number | null;
  cpuMsPerOrderByKind: Record<ProcessKind, number | null>;
  cpuMs: Record<ProcessKind | 'total', number>;
  /** The same CPU per executed order by process (a Lambda function's workers, each emulator, raft, bench), largest first. */
  cpuMsPerOrderByProcess: Record<string, number>;
  /** Orders of the step's ticks with more than one event (must be 0). */
  duplicates: number;
  /** Commands of the step's ticks with no event once the backlog drained (must be 0; verify at the end is the final word). */
  lost: number;
  /**
   * Order events still queued for the WebSocket notifier (its two queues, waiting and in flight) when the step's
   * events had drained: live delivery's backlog. The step does not wait for it, so the notifier's CPU for it falls
   * outside the step's figure (into the next step's, when there is one).
   */
  liveDeliveryBacklog: number;
}

/** A guess at a step's drain (backlog + 3 quiet seconds), for the progress bar's first estimate only. */
const DRAIN_GUESS_S = 8;

function eventSamples(records: RecordedMessage[]): Sample[] {
  const out: Sample[] = [];
  for (const r of records) {
    try {
      const e = JSON.parse(r.body) as Omit<Sample, 'messageId' | 'sentAt'>;
      out.push({ ...e, messageId: r.messageId, sentAt: r.sentAt });
    } catch {
      // not an order event: verify reports it
    }
  }
  return out;
}

type BenchArgs = ReturnType<typeof command.parse>;

/** Starts the embedded stack the bench drives, recording every order event's timings into `samples`. */
function startBenchStack(args: BenchArgs, dataDir: string, log: (line: string) => void, samples: Sample[]) {
  return startLocalCloud({
    dataDir,
    fresh: true,
    edgePort: 0,
    ...dynamodbOption(args.dynamodb),
    log,
    onEvents: (records) => samples.push(...eventSamples(records)),
    // The stream sized for the highest rate (shardsFor) unless --shards says; the stack's strategy unless --strategy names another.
    context: {
      shardCount: String(args.shards),
      ...strategyContext(args.strategy),
      ...args.context,
    },
  });
}

/** Writes `rate` ticks/s for `seconds`; resolves with the ticks that landed and how long sending took. */
async function driveTicks(
  kinesis: KinesisClient,
  stream: string,
  source: TickSource,
  rate: number,
  seconds: number,
  status: (sent: number) => void,
) {
  const start = Date.now();
  let landed = 0;
  // Ticks go out every 100 ms; several PutRecords may be in flight so a slow call does not throttle the rate.
  // Every slot is sent: a sender that falls behind (a slow stream on a loaded machine) catches up late rather than
  // offering fewer ticks than asked, so the step's load is always rate × seconds and ticks/s says how fast it landed.
  const inFlight = new Set<Promise<void>>();
  for (let slot = 0; slot < seconds * 10; slot++) {
    const due = start + slot * 100;
    if (due > Date.now()) await sleep(due - Date.now());
    if (slot % 10 === 0) status(slot / 10);
    const ticks = source.next(Math.max(1, Math.round(rate / 10)));
    const p = putTicks(kinesis, stream, ticks).then(() => {
      landed += ticks.length;
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size > 8) await Promise.race(inFlight);
  }
  // The step's ticks are those made in [start, end): the last one was made just now.
  const end = Date.now() + 1;
  await Promise.all(inFlight);
  return { start, end, landed, sendSeconds: (Date.now() - start) / 1000 };
}

/**
 * Waits until no order event has arrived for 3 s and every command recorded so far has its event (at most `maxMs`),
 * so a step's backlog does not spill into the next. Quiet alone was not enough: a loaded CI run paused 3 s with 344
 * commands still queued, which the step then counted as lost (the closing verify found every one executed).
 */
async function drainEvents(
  samples: Sample[],
  commandsFile: string,
  maxMs: number,
  status: (events: number) => void,
): Promise<void> {
  const until = Date.now() + maxMs;
  let seen = -1;
  let quietSince = Date.now();
  while (Date.now() < until) {
    if (samples.length !== seen) {
      seen = samples.length;
      quietSince = Date.now();
      status(seen);
    } else if (Date.now() - quietSince >= 3000) {
      const withEvent = new Set(samples.map((s) => s.orderId));
      const { commands } = readCommandRecords(commandsFile);
      if (commands.every((c) => withEvent.has(c.orderId))) return;
    }
    await sleep(250);
  }
}

/** Logs a step's SQS mapping shares, its latency stages and its CPU per order. */
function logStepDetail(
  log: (line: string) => void,
  result: StepResult,
  samples: Sample[],
  window: { start: number; end: number },
  receivesBefore: Record<string, SqsMappingStats>,
  receivesAfter: Record<string, SqsMappingStats>,
): void {
  const step = samples.filter((s) => s.tickTs >= window.start && s.tickTs < window.end);
  const stage = (f: (s: Sample) => number) => {
    const v = step.map(f).sort((a, b) => a - b);
    return `p50 ${percentile(v, 50) ?? '-'} p99 ${percentile(v, 99) ?? '-'} ms`;
  };
  log(`  SQS mappings: ${receiveShares(receivesBefore, receivesAfter)}`);
  log(
    `  stages: tick→command ${stage((s) => s.commandTs - s.tickTs)} | command→executed ${stage((s) => s.executedTs - s.commandTs)} | executed→event ${stage((s) => s.sentAt - s.executedTs)}`,
  );
  log(`  CPU per executed order, all processes: ${formatCpu(result)}`);
  log(`  by process (ms per order): ${formatByProcess(result)}`);
  log(`  live delivery: ${result.liveDeliveryBacklog} order update(s) still queued for the WebSocket notifier`);
}

/** What the notifier's two queues hold (waiting and in flight): live delivery's backlog. */
async function liveDeliveryDepth(sqs: SQSClient, outputs: Record<string, string | undefined>): Promise<number> {
  const depths = await Promise.all(
    [outputs.WsOrderEventsQueueUrl, outputs.WsAccountUpdatesQueueUrl].map((url) => queueDepth(sqs, url)),
  );
  return depths.reduce((a, b) => a + b, 0);
}

/** Verifies the whole run, then prints the steps' rows and the verify report; 0 when verify passes. */
async function verifyAndPrint(
  args: BenchArgs,
  stack: Awaited<ReturnType<typeof startLocalCloud>>,
  rows: string[],
  log: (line: string) => void,
  stopProgress: () => void,
): Promise<number> {
  log('verifying the whole run…');
  const report = await verifyPipeline(stack.info, stack.sqs, clusterReader(stack.raft), {
    settleTimeoutMs: 300_000,
    log,
  });
  stopProgress();
  process.stdout.write(
    `\nbench results (${args.seconds} s per rate, ${args.shards} shard(s), ${args.symbols} symbols, strategy ${args.strategy}):\n${rows.join('\n')}\n`,
  );
  if (args.json) process.stdout.write(`steps written to ${resolve(args.json)}\n`);
  printReport(report);
  return report.ok ? 0 : 1;
}

async function main({ argv }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const dataDir = resolve(args['data-dir']);
  const started = Date.now();
  /** The run's expected seconds: so far, plus the warm-up (unless done) and the steps left, each with a drain guess. */
  const expected = (stepsLeft: number, withWarmup: boolean) =>
    (Date.now() - started) / 1000 +
    (withWarmup && args.warmup > 0 ? args.warmup + DRAIN_GUESS_S : 0) +
    stepsLeft * (args.seconds + DRAIN_GUESS_S);
  // The stack's start (synth and deploy) takes 30 s to 2 min depending on the machine: re-estimated once it is up.
  const progress = new Progress({ steps: args.rates.length, expectedSeconds: 60 + expected(args.rates.length, true) });
  const log = (line: string) => progress.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const samples: Sample[] = [];
  progress.update(0, 'starting the embedded stack');
  const stack = await startBenchStack(args, dataDir, log, samples);
  progress.update(0, 'stack ready', expected(args.rates.length, true));
  const kinesis = createKinesisClient();
  const stream = stack.info.outputs.TicksStreamName as string;
  const source = new TickSource(benchSymbols(args.symbols), 'bench');
  const drive = (rate: number, seconds: number, status: (sent: number) => void) =>
    driveTicks(kinesis, stream, source, rate, seconds, status);
  const drain = (maxMs: number, status: (events: number) => void) =>
    drainEvents(samples, recordFiles(dataDir).commands, maxMs, status);
  const rows: string[] = [];
  const results: StepResult[] = [];
  try {
    const runStarted = Date.now();
    // Warm-up, not measured: the first invocations start the functions' workers (cold starts of 2-3 s here).
    if (args.warmup > 0) {
      const rate = args.rates[0] ?? 100;
      log(`warm-up: ${args.warmup} s at ${rate} ticks/s (not measured)…`);
      await drive(rate, args.warmup, (s) => progress.update(0, `warm-up at ${rate} ticks/s: ${s}/${args.warmup} s`));
      await drain(60_000, (n) => progress.update(0, `warm-up: draining (${n} events so far)`));
    }
    for (const [i, rate] of args.rates.entries()) {
      const stepsLeft = args.rates.length - i;
      const stepStarted = Date.now();
      const receivesBefore = stack.runtime.sqsMappingStats();
      const cpuBefore = sampleProcessTree();
      const label = `rate ${rate} ticks/s`;
      const { start, end, landed, sendSeconds } = await drive(rate, args.seconds, (s) =>
        progress.update(i + 1, `${label}: sending ${s}/${args.seconds} s`),
      );
      // The step's backlog drains before it is measured (up to 2 min), so its latencies are complete and the
      // next step starts on an empty pipeline.
      await drain(120_000, (n) => progress.update(i + 1, `${label}: draining (${n} events so far)`));
      const liveDeliveryBacklog = await liveDeliveryDepth(stack.sqs, stack.info.outputs);
      const result = measureStep({
        rate,
        seconds: args.seconds,
        window: { start, end },
        landed,
        sendSeconds,
        samples,
        commandsFile: recordFiles(dataDir).commands,
        cpuBefore,
        liveDeliveryBacklog,
      });
      results.push(result);
      if (args.json) writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
      // Re-estimate the rest from how long this step (with its drain) took.
      const stepSeconds = (Date.now() - stepStarted) / 1000;
      progress.update(i + 1, `${label}: done`, (Date.now() - runStarted) / 1000 + 30 + (stepsLeft - 1) * stepSeconds);
      const row = formatRow(result);
      rows.push(row);
      log(row);
      logStepDetail(log, result, samples, { start, end }, receivesBefore, stack.runtime.sqsMappingStats());
    }
    progress.update(args.rates.length, 'verifying the whole run');
    return await verifyAndPrint(args, stack, rows, log, () => progress.stop());
  } finally {
    progress.stop();
    kinesis.destroy();
    await stack.stop();
  }
}

interface StepInput {
  rate: number;
  seconds: number;
  /** When the step sent its ticks: [start, end). */
  window: { start: number; end: number };
  landed: number;
  sendSeconds: number;
  samples: Sample[];
  commandsFile: string;
  cpuBefore: TreeSample;
  liveDeliveryBacklog: number;
}

/** A step's figures, once its backlog has drained. */
function measureStep(input: StepInput): StepResult {
  const { start, end } = input.window;
  const inStep = (ts: number) => ts >= start && ts < end;
  const step = input.samples.filter((s) => inStep(s.tickTs));
  const latencies = step.map((s) => s.sentAt - s.tickTs).sort((a, b) => a - b);
  // Per order id its distinct executions (see tools/lib/event-tally.ts): a re-publish is not a duplicate.
  const eventIds = new Map<string, Set<string>>();
  for (const s of step) eventIds.set(s.orderId, (eventIds.get(s.orderId) ?? new Set()).add(executionKey(s)));
  const commands = new Set(
    readCommandRecords(input.commandsFile)
      .commands.filter((c) => inStep(c.tickTs))
      .map((c) => c.orderId),
  );
  const executed = [...commands].filter((id) => eventIds.has(id)).length;
  const cpuAfter = sampleProcessTree();
  const cpuMs = cpuMsBetween(input.cpuBefore, cpuAfter);
  const perOrder = (ms: number) => (executed > 0 ? round(ms / executed, 2) : null);
  const byKind = Object.fromEntries(PROCESS_KINDS.map((k) => [k, perOrder(cpuMs[k])])) as Record<
    ProcessKind,
    number | null
  >;
  return {
    rate: input.rate,
    seconds: input.seconds,
    ticksPerSecond: round(input.landed / input.sendSeconds, 1),
    ticks: input.landed,
    // Per second of the window the ticks were made in (`seconds`, or longer when the sender fell behind).
    ordersPerSecond: round(input.samples.filter((s) => inStep(s.sentAt)).length / ((end - start) / 1000), 1),
    p50Ms: percentile(latencies, 50) ?? null,
    p95Ms: percentile(latencies, 95) ?? null,
    p99Ms: percentile(latencies, 99) ?? null,
    commands: commands.size,
    executed,
    cpuMsPerOrder: perOrder(cpuMs.total),
    cpuMsPerOrderByKind: byKind,
    cpuMs: Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, Math.round(v)])) as StepResult['cpuMs'],
    cpuMsPerOrderByProcess: Object.fromEntries(
      cpuMsByLabel(input.cpuBefore, cpuAfter).map(([label, ms]) => [label, perOrder(ms) ?? 0]),
    ),
    duplicates: [...eventIds.values()].filter((ids) => ids.size > 1).length,
    lost: commands.size - executed,
    liveDeliveryBacklog: input.liveDeliveryBacklog,
  };
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));

function formatRow(r: StepResult): string {
  const ms = (v: number | null) => String(v ?? '-').padStart(5);
  return (
    `rate ${String(r.rate).padStart(5)}/s | ticks/s ingested ${r.ticksPerSecond.toFixed(0).padStart(5)} | ` +
    `orders/s executed ${r.ordersPerSecond.toFixed(1).padStart(6)} | ` +
    `tick→event p50 ${ms(r.p50Ms)} p95 ${ms(r.p95Ms)} p99 ${ms(r.p99Ms)} ms | ` +
    `CPU ${String(r.cpuMsPerOrder ?? '-').padStart(6)} ms/order | duplicates ${r.duplicates} | lost ${r.lost}`
  );
}

function formatCpu(r: StepResult): string {
  const parts = PROCESS_KINDS.map((k) => `${k} ${r.cpuMsPerOrderByKind[k] ?? '-'}`).join(', ');
  return `${r.cpuMsPerOrder ?? '-'} ms (${parts}); ${r.cpuMs.total} ms CPU over ${r.executed} orders`;
}

/** The processes' shares, largest first, down to 0.05 ms per order (the rest summed). */
function formatByProcess(r: StepResult): string {
  const entries = Object.entries(r.cpuMsPerOrderByProcess);
  const shown = entries.filter(([, ms]) => ms >= 0.05);
  const rest = entries.filter(([, ms]) => ms < 0.05).reduce((sum, [, ms]) => sum + ms, 0);
  return [...shown.map(([label, ms]) => `${label} ${ms}`), ...(rest > 0 ? [`others ${round(rest, 2)}`] : [])].join(
    ', ',
  );
}

/** Per SQS mapping, the ReceiveMessage calls of a step and the share of them that came back empty. */
function receiveShares(before: Record<string, SqsMappingStats>, after: Record<string, SqsMappingStats>): string {
  return Object.entries(after)
    .map(([id, a]) => {
      const b = before[id] ?? { receives: 0, emptyReceives: 0, messages: 0 };
      const receives = a.receives - b.receives;
      const empty = a.emptyReceives - b.emptyReceives;
      const messages = a.messages - b.messages;
      const share = receives > 0 ? ((100 * empty) / receives).toFixed(1) : '-';
      const perReceive = receives - empty > 0 ? (messages / (receives - empty)).toFixed(2) : '-';
      return `${id}: ${receives} receives, ${share} % empty, ${perReceive} messages per non-empty receive`;
    })
    .join('; ');
}

// Stopped by a signal it exits at once: the stack's processes watch this one and stop themselves.
if (require.main === module) runCommand(command, main);
