/**
 * `npm start [-- --duration S] [--rate N] [--symbols A,B] [--data-dir DIR] [--fresh] [--port 4566] [--no-feed]
 *  [--feed-seconds N] [--verify] [--dynamodb dynamodb-local|dynalite]`
 * --feed-seconds stops the market feed after N s (the stack keeps running, so `npm run verify` sees a quiet
 * pipeline); --verify, with --duration, stops the feed at the end, runs verify and exits with its result.
 * Starts the embedded cloud (edge + emulators + logs), three Raft nodes, deploys PipelineStack through the edge's
 * CloudFormation with the pinned CDK CLI (cdk bootstrap + cdk deploy; prints the command to redeploy), runs the functions and the market feed, and shows a live status.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import {
  describeQueued,
  drainQueues,
  renderStatus,
  startLocalCloud,
  StatusTracker,
  statusLine,
  type LocalCloud,
} from '../local-cloud';
import { verifyPipeline } from './lib/verify-pipeline';
import { clusterReader } from './targets/remote-raft';
import { printReport } from './verify';
import { sleep } from '../shared/util/wait';
import { DYNAMODB_OPTION, dynamodbUsage, dynamodbOption, dynamodbSchema } from './lib/dynamodb-option';

const command = defineCommand({
  name: 'npm start',
  usage: `usage: npm start -- [options]
  --data-dir DIR        where the stack keeps its data (default .data)
  --fresh               empty the data dir first (refused, like any start, while another stack holds it)
  --port N              edge endpoint port (default 4566; 0 picks a free one)
  --rate N              market feed ticks per second (default 20)
  --symbols A,B         market feed symbols (default AAPL,MSFT,AMZN)
  --no-feed             no market feed
  --feed-seconds N      stop the market feed after N s (the stack keeps running)
  --duration S          stop after S seconds
  --verify              with --duration: stop the feed at the end, run verify, exit with its result
${dynamodbUsage(24)}
Stops cleanly on Ctrl-C, SIGTERM, SIGHUP or its output closing, after processing what the in-memory SQS holds (at
most 15 s; Ctrl-C again stops at once); no process it started outlives it.`,
  options: {
    'data-dir': { type: 'string', default: '.data' },
    fresh: { type: 'boolean', default: false },
    duration: { type: 'string' },
    rate: { type: 'string', default: '20' },
    symbols: { type: 'string', default: 'AAPL,MSFT,AMZN' },
    port: { type: 'string', default: '4566' },
    'no-feed': { type: 'boolean', default: false },
    'feed-seconds': { type: 'string' },
    verify: { type: 'boolean', default: false },
    ...DYNAMODB_OPTION,
  },
  schema: z.object({
    'data-dir': z.string().min(1),
    fresh: z.boolean(),
    duration: z.coerce.number().positive().optional(),
    rate: z.coerce.number().int().min(1).max(10_000),
    symbols: z
      .string()
      .regex(/^[A-Z][A-Z0-9.]{0,9}(,[A-Z][A-Z0-9.]{0,9})*$/, 'comma-separated upper-case symbols, e.g. AAPL,MSFT')
      .transform((s) => s.split(',')),
    port: z.coerce.number().int().min(0).max(65535),
    'no-feed': z.boolean(),
    'feed-seconds': z.coerce.number().positive().optional(),
    verify: z.boolean(),
    dynamodb: dynamodbSchema,
  }),
});

/** Stops the market feed, then verifies the run and prints the report; 0 when verify passes. */
async function stopFeedAndVerify(stack: LocalCloud, log: (line: string) => void): Promise<number> {
  log('stopping the feed and verifying…');
  await stack.runtime.stopSchedules();
  const report = await verifyPipeline(stack.info, stack.sqs, clusterReader(stack.raft), { log });
  printReport(report);
  return report.ok ? 0 : 1;
}

/** How long a stop waits for the in-memory queues to empty; runCommand's stopGraceMs (30 s) bounds the whole stop. */
const DRAIN_TIMEOUT_MS = 15_000;
/**
 * How long a failed start waits for a stop signal already on its way (a terminal's Ctrl-C reaches the start's
 * children and this process at once, and either may be handled first); a real failure is reported this much later.
 */
const STOP_SIGNAL_GRACE_MS = 500;

/** Processes what the in-memory SQS holds before the stop (local-cloud/drain.ts); says what could not be. */
async function drainBeforeStop(stack: LocalCloud, log: (line: string) => void): Promise<void> {
  let left: Record<string, number>;
  try {
    left = await drainQueues(stack, { timeoutMs: DRAIN_TIMEOUT_MS, log });
  } catch (error) {
    // The stop goes on: a queue that cannot be read (its emulator gone) is no reason to keep everything running.
    log(`could not wait for the queues to empty: ${(error as Error).message}`);
    return;
  }
  const count = Object.values(left).reduce((a, b) => a + b, 0);
  if (count > 0)
    log(
      `${count} queued message(s) not processed in ${DRAIN_TIMEOUT_MS / 1000} s are lost with this stop ` +
        `(${describeQueued(left)}): SQS is kept in memory here`,
    );
}

async function main({ argv, signal }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const dataDir = resolve(args['data-dir']);
  const tty = process.stdout.isTTY === true;
  const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

  const holder: { tracker?: StatusTracker } = {};
  // Ctrl-C during start-up waits for the start to finish (or fail), then stops what it started.
  const starting: Promise<LocalCloud> = startLocalCloud({
    dataDir,
    fresh: args.fresh,
    edgePort: args.port,
    ...dynamodbOption(args.dynamodb),
    ...(args['no-feed'] ? {} : { feed: { ticksPerSecond: args.rate, symbols: args.symbols } }),
    log,
    onEvents: (r) => holder.tracker?.onEvents(r),
  });
  let stopping: Promise<void> | undefined;
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log(`${why}: stopping…`);
      await holder.tracker?.stop();
      const started = await starting.catch(() => undefined);
      if (started) await drainBeforeStop(started, log);
      await started?.stop();
      log('stopped; no process left running');
    })();
    return stopping;
  };
  // Ctrl-C, SIGTERM, SIGHUP, stdout closed, parent gone (shared/process/cli.ts).
  signal.addEventListener('abort', () => void stop(String(signal.reason)));

  // A terminal's Ctrl-C also reaches the start's own children (the synth, the CDK CLI): a start that fails while
  // stopping failed because of the stop, which says "stopped" rather than a failure. The child can die of that Ctrl-C
  // and its failure arrive before this process has handled its own copy of the signal (3 of 8 runs of the
  // lifecycle-stack synth test), so a failed start first gives a stop already on its way a moment to land.
  const stack = await starting.catch(async (error: unknown) => {
    await sleep(STOP_SIGNAL_GRACE_MS, signal);
    if (stopping) return undefined;
    throw error;
  });
  if (stopping || !stack) {
    await stopping;
    return 0;
  }
  const tracker = new StatusTracker(stack.info, stack.sqs, stack.raft);
  holder.tracker = tracker;
  tracker.start();
  log(
    `running: feed ${args['no-feed'] ? 'off' : `${args.rate} ticks/s over ${args.symbols.join(',')}`}; data in ${dataDir}; ` +
      `try: npm run logs -- execute --follow | npm run verify`,
  );

  const startedAt = Date.now();
  const deadline = args.duration ? startedAt + args.duration * 1000 : undefined;
  let lastLine = 0;
  let feedStopped = false;
  let drawn = 0;
  while (!stopping) {
    await sleep(1000);
    if (stopping) break;
    const snap = await tracker.snapshot();
    if (tty) {
      const lines = renderStatus(snap, startedAt);
      process.stdout.write(`${drawn > 0 ? `\x1b[${drawn}F` : ''}${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
      drawn = lines.length;
    } else if (Date.now() - lastLine >= 5000) {
      process.stdout.write(`${statusLine(snap)}\n`);
      lastLine = Date.now();
    }
    if (args['feed-seconds'] && !feedStopped && Date.now() >= startedAt + args['feed-seconds'] * 1000) {
      feedStopped = true;
      log(`--feed-seconds ${args['feed-seconds']} reached: market feed stopped`);
      await stack.runtime.stopSchedules();
    }
    if (deadline && Date.now() >= deadline) {
      const code = args.verify ? await stopFeedAndVerify(stack, log) : 0;
      await stop(`--duration ${args.duration} s reached`);
      return code;
    }
  }
  await stopping;
  return 0;
}

if (require.main === module) runCommand(command, main, { stopGraceMs: 30_000 });
