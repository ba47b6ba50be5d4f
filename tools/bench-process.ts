import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamEvent, KinesisStreamBatchResponse } from 'aws-lambda';
import { z } from 'zod';
import { startDynamoDb } from '../local-cloud/emulators/dynamodb';
import { startSqs } from '../local-cloud/emulators/sqs';
import { freePort } from '../local-cloud/emulators/child-service';
import { createDynamoDbClient, createSqsClient, EMULATOR_CREDENTIALS, localEndpointEnv } from '../shared/aws/clients';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { clockTicks } from './lib/process-cpu';

/**
 * `node --import tsx tools/bench-process.ts [--root DIR] [--batches N] [--ticks-per-batch N]`: the CPU the process
 * function costs per tick, on its own, for one batch shape: its handler (module DIR/functions/process/handler, so
 * another checkout can be measured against this one) invoked in this process on Kinesis batches of N ticks spread
 * over 8 symbols, against a real DynamoDB Local and fauxqs (fresh, in a temporary directory). Prints CPU ms per tick
 * of this process (the handler and its SDK calls), of DynamoDB Local and of fauxqs. At 300 ticks/s on 4 shards read
 * 5 times a second a batch holds ~15 ticks, ~2 per symbol; at 1,000 ticks/s ~50. A script: it prints, asserts nothing.
 */

const command = defineCommand({
  name: 'tools/bench-process.ts',
  usage: `usage: node --import tsx tools/bench-process.ts [--root DIR] [--batches N] [--ticks-per-batch N]
  --root DIR            the checkout whose functions/process/handler runs (default: this one)
  --batches N           measured invocations, after 30 not measured (default 200)
  --ticks-per-batch N   ticks per invocation, over 8 symbols (default 15)`,
  options: {
    root: { type: 'string', default: resolve(__dirname, '..') },
    batches: { type: 'string', default: '200' },
    'ticks-per-batch': { type: 'string', default: '15' },
  },
  schema: z.object({
    root: z.string().min(1),
    batches: z.coerce.number().int().min(1).max(100_000),
    'ticks-per-batch': z.coerce.number().int().min(1).max(10_000),
  }),
});

const SYMBOLS = ['AAPL', 'MSFT', 'AMZN', 'GOOG', 'META', 'NVDA', 'TSLA', 'NFLX'];
const WARMUP_BATCHES = 30;

/** CPU ms (user + system) of another process so far, from /proc. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks();
}
const ownCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** The emulator's own process (spawnService runs it under a supervisor): the newest whose command line matches. */
const pidOf = (pattern: string) => Number(execFileSync('pgrep', ['-n', '-f', pattern], { encoding: 'utf8' }).trim());

/** Batches as the Kinesis mapping delivers them: one shard, rising sequence numbers, symbols round robin. */
function batchMaker(ticksPerBatch: number) {
  let seq = 10n ** 20n;
  let n = 0;
  return (): KinesisStreamEvent => ({
    Records: Array.from({ length: ticksPerBatch }, () => {
      const symbol = SYMBOLS[n++ % SYMBOLS.length]!;
      seq += 1n;
      const tick = { symbol, price: 100 + (n % 7), size: 1, ts: Date.now(), tickId: `t${n}` };
      const data = Buffer.from(JSON.stringify({ tick, correlationId: `c${n}`, ingestedAt: Date.now() }));
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: symbol,
          sequenceNumber: String(seq),
          data: data.toString('base64'),
          approximateArrivalTimestamp: Date.now() / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `shardId-000000000000:${seq}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/process',
        awsRegion: 'us-east-1',
        eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/ticks',
      };
    }),
  });
}

type Handler = (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse>;

/** Creates the table and queue and loads the handler with its environment pointing at them (as at a cold start). */
async function loadHandler(root: string, dynamodb: string, sqsEndpoint: string): Promise<Handler> {
  Object.assign(process.env, localEndpointEnv(dynamodb), { AWS_ENDPOINT_URL_SQS: sqsEndpoint });
  const target = { region: 'us-east-1', credentials: EMULATOR_CREDENTIALS };
  const ddb = createDynamoDbClient({ ...target, endpoint: dynamodb });
  await ddb.send(
    new CreateTableCommand({
      TableName: 'strategy-state',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'symbol', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'symbol', KeyType: 'HASH' }],
    }),
  );
  const sqs = createSqsClient({ ...target, endpoint: sqsEndpoint });
  const queue = await sqs.send(
    new CreateQueueCommand({ QueueName: 'commands.fifo', Attributes: { FifoQueue: 'true' } }),
  );
  ddb.destroy();
  sqs.destroy();
  Object.assign(process.env, {
    STRATEGY_TABLE_NAME: 'strategy-state',
    COMMANDS_QUEUE_URL: queue.QueueUrl,
    STRATEGY_NAME: 'load-test-every-tick',
    STRATEGY_FAST_WINDOW: '2',
    STRATEGY_SLOW_WINDOW: '4',
    STRATEGY_ORDER_QUANTITY: '1',
    TRADING_ACCOUNT: 'acct-1',
    POWERTOOLS_SERVICE_NAME: 'process',
    POWERTOOLS_METRICS_NAMESPACE: 'bench',
    LOG_LEVEL: 'INFO',
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the module of another checkout, by path
  return (require(join(root, 'functions/process/handler')) as { handler: Handler }).handler;
}

async function main({ argv }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const dir = mkdtempSync(join(tmpdir(), 'bench-process-'));
  const [ddbPort, sqsPort] = [await freePort(), await freePort()];
  const ddb = await startDynamoDb(ddbPort, join(dir, 'dynamodb'), 'dynamodb-local');
  const sqs = await startSqs(sqsPort);
  const print = process.stdout.write.bind(process.stdout);
  try {
    const handler = await loadHandler(resolve(args.root), ddb.endpoint, sqs.endpoint);
    const pids = {
      ddb: pidOf(`^java .*DynamoDbLocalLoopback -port ${ddbPort}`),
      sqs: pidOf('^[^ ]*node .*fauxqs/dist/cli.js'),
    };
    const next = batchMaker(args['ticks-per-batch']);
    const context = { functionName: 'process', awsRequestId: 'bench' } as Context;
    // The handler's log lines are produced (that is part of its cost, as in Lambda) but not shown.
    process.stdout.write = (() => true) as typeof process.stdout.write;
    for (let i = 0; i < WARMUP_BATCHES; i++) await handler(next(), context);
    const before = { own: ownCpuMs(), ddb: processCpuMs(pids.ddb), sqs: processCpuMs(pids.sqs), at: Date.now() };
    let failed = 0;
    for (let i = 0; i < args.batches; i++) failed += (await handler(next(), context)).batchItemFailures.length;
    const ticks = args.batches * args['ticks-per-batch'];
    const per = (ms: number) => (ms / ticks).toFixed(3);
    const own = ownCpuMs() - before.own;
    const jvm = processCpuMs(pids.ddb) - before.ddb;
    const fauxqs = processCpuMs(pids.sqs) - before.sqs;
    print(
      `${args.root}: ${args.batches} batches × ${args['ticks-per-batch']} ticks (8 symbols), ${failed} failed, ` +
        `${Date.now() - before.at} ms; CPU ms per tick: handler ${per(own)}, DynamoDB Local ${per(jvm)}, ` +
        `fauxqs ${per(fauxqs)}, total ${per(own + jvm + fauxqs)}\n`,
    );
    return failed === 0 ? 0 : 1;
  } finally {
    process.stdout.write = print;
    await Promise.all([ddb.stop(), sqs.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runCommand(command, main);
