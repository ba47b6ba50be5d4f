/**
 * `npm run load -- [--target embedded|localstack|aws] --rate N --seconds S [--symbols A,B] [--direct]`
 *
 * Sends ticks (the seeded random walk the feed uses, wall-clock timestamps) at N ticks/s for S seconds through
 * the deployed ingest path: POST /ticks on the HTTP API, signed with SigV4 (its routes are IAM-authorized), or
 * straight into the ticks stream in ingest's record format with --direct. The embedded cloud emulates no API
 * Gateway, so there load always writes to the stream (its endpoint from `<data-dir>/stack.json`).
 * Reports accepted / rejected / failed counts; exit 1 when any tick was not accepted.
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand, runCommand } from '../shared/process/cli';
import { stackInfoFile } from '../local-cloud';
import { openEmbeddedStack } from './targets/embedded-stack';
import { putTicks, TickSource } from './lib/tick-driver';
import { MAX_TICKS_PER_REQUEST, type Tick } from '../shared/domain/tick';
import { SymbolSchema } from '../shared/domain/order';
import { parseTarget, resolveDeployedStack, TARGET_ARGS, TargetError } from './targets/deployed-stack';
import { createSignedFetch } from './targets/signed-fetch';
import { sleep } from '../shared/util/wait';
import { createKinesisClient } from '../shared/aws/clients';

const command = defineCommand({
  name: 'npm run load',
  usage: `usage: npm run load -- --rate N --seconds S [--symbols AAPL,MSFT] [--direct] [--data-dir .data]
  --rate N                   ticks per second (required)
  --seconds S                how long (required)
  --symbols A,B              symbols to tick (default AAPL,MSFT,GOOG)
  --direct                   localstack/aws: write to the ticks stream instead of POST /ticks
  --data-dir DIR             embedded: the stack's data dir (default .data)
${TARGET_ARGS.usage}`,
  options: {
    rate: { type: 'string' },
    seconds: { type: 'string' },
    symbols: { type: 'string', default: 'AAPL,MSFT,GOOG' },
    direct: { type: 'boolean', default: false },
    'data-dir': { type: 'string', default: '.data' },
    ...TARGET_ARGS.options,
  },
  schema: z.object({
    rate: z.string({ error: 'is required' }).pipe(z.coerce.number<string>().int().min(1).max(50_000)),
    seconds: z.string({ error: 'is required' }).pipe(z.coerce.number<string>().int().min(1).max(86_400)),
    symbols: z.string().transform((s, ctx) => {
      const list = s.split(',').map((x) => x.trim());
      for (const sym of list)
        if (!SymbolSchema.safeParse(sym).success) ctx.addIssue({ code: 'custom', message: `'${sym}' is not a symbol` });
      return list;
    }),
    direct: z.boolean(),
    'data-dir': z.string().min(1),
    ...TARGET_ARGS.shape,
  }),
});

export interface LoadResult {
  sent: number;
  accepted: number;
  rejected: number;
  failed: number;
  seconds: number;
  via: string;
}

type Sender = (ticks: Tick[]) => Promise<{ accepted: number; rejected: number; failed: number }>;

function streamSender(streamName: string): { send: Sender; close: () => void } {
  const kinesis = createKinesisClient();
  return {
    // putTicks retries failed entries until they land, so every tick it returns for is accepted.
    send: async (ticks) => {
      await putTicks(kinesis, streamName, ticks);
      return { accepted: ticks.length, rejected: 0, failed: 0 };
    },
    close: () => kinesis.destroy(),
  };
}

async function apiSender(apiUrl: string, region: string): Promise<Sender> {
  const signedFetch = await createSignedFetch(region);
  const url = `${apiUrl.replace(/\/$/, '')}/ticks`;
  return async (ticks) => {
    const res = await signedFetch('POST', url, JSON.stringify(ticks)).catch((err: unknown) => ({
      status: 0,
      body: JSON.stringify({ message: (err as Error).message }),
    }));
    let body: { accepted?: unknown[]; rejected?: unknown[]; failed?: unknown[]; message?: string } = {};
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      // Not ingest's answer (e.g. API Gateway's own 403): the whole request counts as failed.
    }
    if (res.status === 202 || res.status === 503 || (res.status === 400 && body.rejected))
      return {
        accepted: body.accepted?.length ?? 0,
        rejected: body.rejected?.length ?? 0,
        failed: body.failed?.length ?? 0,
      };
    throw new TargetError(`POST ${url} answered ${res.status}: ${body.message ?? res.body.slice(0, 200)}`);
  };
}

/** Runs the load with these arguments; resolves with its counts. */
export async function runLoad(argv: string[], log: (l: string) => void): Promise<LoadResult> {
  const values = command.parse(argv);
  const { rate, seconds, symbols } = values;
  const target = parseTarget(values.target);

  let send: Sender;
  let close = () => undefined as void;
  let via: string;
  if (target === 'embedded') {
    const dataDir = resolve(values['data-dir']);
    const info = openEmbeddedStack(dataDir, (message) => new TargetError(message));
    const streamName = info.outputs.TicksStreamName;
    if (!streamName) throw new TargetError(`${stackInfoFile(dataDir)} has no TicksStreamName output`);
    ({ send, close } = streamSender(streamName));
    via = `stream ${streamName} (embedded, ${info.endpoint})`;
  } else {
    const stack = await resolveDeployedStack(target, values, [values.direct ? 'TicksStreamName' : 'HttpApiUrl']);
    if (values.direct) {
      const streamName = stack.outputs.TicksStreamName as string;
      ({ send, close } = streamSender(streamName));
      via = `stream ${streamName} (${target}, direct)`;
    } else {
      send = await apiSender(stack.outputs.HttpApiUrl as string, stack.region);
      via = `POST ${stack.outputs.HttpApiUrl}/ticks (${target}, SigV4)`;
    }
  }

  log(`load: ${rate} ticks/s for ${seconds} s over ${symbols.join(',')} → ${via}`);
  const source = new TickSource(symbols, `load-${Date.now()}`);
  const totals = { sent: 0, accepted: 0, rejected: 0, failed: 0 };
  const started = Date.now();
  try {
    // One batch per 100 ms slot (at most MAX_TICKS_PER_REQUEST a request), each slot waiting for its time.
    const slots = seconds * 10;
    for (let slot = 0; slot < slots; slot++) {
      const due = started + slot * 100;
      if (due > Date.now()) await sleep(due - Date.now());
      let count = Math.floor(((slot + 1) * rate) / 10) - Math.floor((slot * rate) / 10);
      const requests: Promise<void>[] = [];
      while (count > 0) {
        const ticks = source.next(Math.min(count, MAX_TICKS_PER_REQUEST));
        count -= ticks.length;
        totals.sent += ticks.length;
        requests.push(
          send(ticks).then(
            (r) => {
              totals.accepted += r.accepted;
              totals.rejected += r.rejected;
              totals.failed += r.failed;
            },
            (err: unknown) => {
              totals.failed += ticks.length;
              log(`load: ${(err as Error).message}`);
            },
          ),
        );
      }
      await Promise.all(requests);
      if (slot % 10 === 9) log(`load: ${totals.sent} sent, ${totals.accepted} accepted`);
    }
  } finally {
    close();
  }
  const result = { ...totals, seconds: (Date.now() - started) / 1000, via };
  log(
    `load: sent ${result.sent}, accepted ${result.accepted}, rejected ${result.rejected}, failed ${result.failed} ` +
      `in ${result.seconds.toFixed(1)} s`,
  );
  return result;
}

if (require.main === module)
  runCommand(command, async ({ argv }) => {
    const r = await runLoad(argv, (l) => process.stdout.write(`${l}\n`));
    return r.accepted === r.sent ? 0 : 1;
  });
