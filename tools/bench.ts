/**
 * `npm run bench [-- --rates 100,200,400,800 --seconds 15 --warmup 10 --strategy stack|<name> --data-dir .data/bench]`
 * Drives the embedded stack at rising tick rates (ticks written to the stream as ingest writes them) and
 * prints, per rate: ticks/s ingested, orders/s executed (order events published during the step),
 * tick→event latency p50/p99 (of the step's ticks' events, once the step's backlog has drained) with its
 * stages (tick→command = stream + process, command→executed = commands queue + execute + ledger,
 * executed→event = events queue), and duplicates (order ids with more than one event; must be 0).
 * A warm-up at the first rate runs first and is not measured. Ends with verify over the whole run.
 * `--strategy stack` keeps the stack's strategy (MA crossover: few orders per tick); the load-test strategy
 * `load-test-every-tick` makes one order per tick, so the order rate equals the tick rate and the bench
 * measures execute's capacity.
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { z } from 'zod';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { strategyNames } from '../shared/domain/strategy';
import type { RecordedMessage } from '../local-cloud/records';
import { startEmbeddedStack } from '../local-cloud/stack';
import { percentile } from '../local-cloud/status';
import { putTicks, TickSource } from './lib/tick-driver';
import { verifyPipeline } from './lib/verify-pipeline';
import { printReport } from './verify';

const command = defineCommand({
  name: 'npm run bench',
  usage: `usage: npm run bench -- [options]
  --rates N,N,...            tick rates to measure, ticks per second (default 100,200,400,800)
  --seconds S                measured seconds per rate (default 15)
  --warmup S                 unmeasured warm-up at the first rate (default 10)
  --shards N                 ticks stream shards (default 4)
  --strategy NAME            stack (the stack's own) or one of: ${strategyNames().join(', ')} (default stack)
  --data-dir DIR             emptied first (default .data/bench)
Exit 0 when the final verify passes, 1 otherwise.`,
  options: {
    rates: { type: 'string', default: '100,200,400,800' },
    seconds: { type: 'string', default: '15' },
    'data-dir': { type: 'string', default: '.data/bench' },
    shards: { type: 'string', default: '4' },
    strategy: { type: 'string', default: 'stack' },
    warmup: { type: 'string', default: '10' },
  },
  schema: z.object({
    rates: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated ticks per second, e.g. 100,200,400')
      .transform((s) => s.split(',').map(Number)),
    seconds: z.coerce.number().int().min(3).max(600),
    'data-dir': z.string().min(1),
    shards: z.coerce.number().int().min(1).max(64),
    strategy: z.string().refine((name) => name === 'stack' || strategyNames().includes(name), {
      message: `stack or one of: ${strategyNames().join(', ')}`,
    }),
    warmup: z.coerce.number().int().min(0).max(600),
  }),
});

interface Sample {
  orderId: string;
  messageId: string;
  tickTs: number;
  commandTs: number;
  executedTs: number;
  sentAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main({ argv }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const dataDir = resolve(args['data-dir']);
  rmSync(dataDir, { recursive: true, force: true });
  const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  const samples: Sample[] = [];
  const onEvents = (records: RecordedMessage[]) => {
    for (const r of records) {
      try {
        const e = JSON.parse(r.body) as { orderId: string; tickTs: number; commandTs: number; executedTs: number };
        samples.push({
          orderId: e.orderId,
          messageId: r.messageId,
          tickTs: e.tickTs,
          commandTs: e.commandTs,
          executedTs: e.executedTs,
          sentAt: r.sentAt,
        });
      } catch {
        // not an order event: verify reports it
      }
    }
  };
  const stack = await startEmbeddedStack({
    dataDir,
    edgePort: 0,
    log,
    onEvents,
    // More shards for parallel process invocations; the stack's strategy unless --strategy names another.
    context: {
      shardCount: String(args.shards),
      ...(args.strategy === 'stack' ? {} : { strategyName: args.strategy }),
    },
  });
  const symbols = ['AAPL', 'MSFT', 'AMZN', 'GOOG', 'META', 'NVDA', 'TSLA', 'NFLX'];
  const kinesis = new KinesisClient({ requestHandler: new NodeHttpHandler() });
  const stream = stack.info.outputs.TicksStreamName as string;
  const source = new TickSource(symbols, 'bench');
  const rows: string[] = [];
  try {
    /** Writes `rate` ticks/s for `seconds`; resolves with the ticks that landed and how long sending took. */
    const drive = async (rate: number, seconds: number) => {
      const start = Date.now();
      const end = start + seconds * 1000;
      let landed = 0;
      // Ticks go out every 100 ms; several PutRecords may be in flight so a slow call does not throttle the rate.
      const inFlight = new Set<Promise<void>>();
      for (let slot = 0; Date.now() < end; slot++) {
        const due = start + slot * 100;
        if (due > Date.now()) await sleep(due - Date.now());
        const ticks = source.next(Math.max(1, Math.round(rate / 10)));
        const p = putTicks(kinesis, stream, ticks).then(() => {
          landed += ticks.length;
        });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        if (inFlight.size > 8) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      return { start, end, landed, sendSeconds: (Date.now() - start) / 1000 };
    };
    /** Waits until no order event has arrived for 3 s (at most `maxMs`), so a step's backlog does not spill into the next. */
    const drain = async (maxMs: number) => {
      const until = Date.now() + maxMs;
      let seen = -1;
      let quietSince = Date.now();
      while (Date.now() < until) {
        if (samples.length !== seen) {
          seen = samples.length;
          quietSince = Date.now();
        } else if (Date.now() - quietSince >= 3000) return;
        await sleep(250);
      }
    };
    // Warm-up, not measured: the first invocations start the functions' workers (cold starts of 2-3 s here).
    if (args.warmup > 0) {
      log(`warm-up: ${args.warmup} s at ${args.rates[0]} ticks/s (not measured)…`);
      await drive(args.rates[0] ?? 100, args.warmup);
      await drain(60_000);
    }
    for (const rate of args.rates) {
      const { start, end, landed, sendSeconds } = await drive(rate, args.seconds);
      // The step's backlog drains before it is measured (up to 2 min), so its latencies are complete and the
      // next step starts on an empty pipeline.
      await drain(120_000);
      const step = samples.filter((s) => s.tickTs >= start && s.tickTs < end);
      const latencies = step.map((s) => s.sentAt - s.tickTs).sort((a, b) => a - b);
      const byOrder = new Map<string, Set<string>>();
      for (const s of samples) byOrder.set(s.orderId, (byOrder.get(s.orderId) ?? new Set()).add(s.messageId));
      const duplicates = [...byOrder.values()].filter((ids) => ids.size > 1).length;
      const executedInStep = samples.filter((s) => s.sentAt >= start && s.sentAt < end).length;
      const row =
        `rate ${String(rate).padStart(5)}/s | ticks/s ingested ${(landed / sendSeconds).toFixed(0).padStart(5)} | ` +
        `orders/s executed ${(executedInStep / args.seconds).toFixed(1).padStart(6)} | ` +
        `tick→event p50 ${String(percentile(latencies, 50) ?? '-').padStart(5)} ms p99 ${String(percentile(latencies, 99) ?? '-').padStart(5)} ms | duplicates ${duplicates}`;
      rows.push(row);
      log(row);
      const stage = (f: (s: Sample) => number) => {
        const v = step.map(f).sort((a, b) => a - b);
        return `p50 ${percentile(v, 50) ?? '-'} p99 ${percentile(v, 99) ?? '-'} ms`;
      };
      log(
        `  stages: tick→command ${stage((s) => s.commandTs - s.tickTs)} | command→executed ${stage((s) => s.executedTs - s.commandTs)} | executed→event ${stage((s) => s.sentAt - s.executedTs)}`,
      );
    }
    log('verifying the whole run…');
    const report = await verifyPipeline(stack.info, stack.sqs, stack.raft.reader(), { settleTimeoutMs: 300_000, log });
    process.stdout.write(
      `\nbench results (${args.seconds} s per rate, ${args.shards} shard(s), ${symbols.length} symbols, strategy ${args.strategy}):\n${rows.join('\n')}\n`,
    );
    printReport(report);
    return report.ok ? 0 : 1;
  } finally {
    kinesis.destroy();
    await stack.stop();
  }
}

// Stopped by a signal it exits at once: the stack's processes watch this one and stop themselves.
if (require.main === module) runCommand(command, main);
