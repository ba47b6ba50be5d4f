import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  PutCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { freePort } from '../local-cloud/emulators/child-service';
import { startDynamoDb } from '../local-cloud/emulators/dynamodb';
import { createDocumentClient, createDynamoDbClient, EMULATOR_CREDENTIALS } from '../shared/aws/clients';
import { orderRecordPut, orderRecordsTable } from '../shared/aws/order-records';
import type { OrderEvent } from '../shared/domain/event';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { clockTicks } from './lib/process-cpu';

/**
 * `node --import tsx tools/bench-dynamodb-local.ts [--writers 1,2,8] [--rounds N] [--journal wal|rollback]`: how
 * many writes DynamoDB Local (the embedded cloud's DynamoDB, on disk as the stack runs it) takes per second, and
 * whether more concurrent writers get more through. Each writer sends, one after another, writes of 10 (--items)
 * items on new keys: by default one TransactWriteItems of conditional puts of ~400-byte items, the shape of
 * execute's and market-data's writes; `--shape record` writes execute's order records themselves (the item
 * shared/aws/order-records.ts puts, on a table with OrdersTable's two history indexes), and `--write puts|batch`
 * sends the same items as concurrent conditional PutItems, or as BatchWriteItems of up to 25 (no condition), instead.
 * Prints per writer count: writes and items per second, latency p50/p90, and DynamoDB Local's CPU per item.
 * A script: it prints, asserts nothing.
 */
const command = defineCommand({
  name: 'tools/bench-dynamodb-local.ts',
  usage: `usage: node --import tsx tools/bench-dynamodb-local.ts [--writers LIST] [--rounds N] [--items N] [--journal wal|rollback]
       [--shape plain|record] [--write transaction|puts|batch]
  --writers LIST   concurrent writers per measurement, comma-separated (default 1,2,8)
  --rounds N       writes per writer, after as many not measured (default 60)
  --items N        items per write, 1–100 (default 10)
  --journal MODE   DynamoDB Local's SQLite journal: wal (the embedded cloud's) or rollback (its own default)
  --shape SHAPE    plain: ~400-byte items on a table without indexes (default); record: execute's order records,
                   on a table with OrdersTable's two history indexes
  --write HOW      transaction: one TransactWriteItems of conditional puts (default); puts: as many conditional
                   PutItems at once; batch: BatchWriteItems of up to 25 puts, unconditional`,
  options: {
    writers: { type: 'string', default: '1,2,8' },
    rounds: { type: 'string', default: '60' },
    items: { type: 'string', default: '10' },
    journal: { type: 'string', default: 'wal' },
    shape: { type: 'string', default: 'plain' },
    write: { type: 'string', default: 'transaction' },
  },
  schema: z.object({
    writers: z.string().transform((s, ctx) => {
      const list = s.split(',').map(Number);
      if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 64))
        ctx.addIssue({ code: 'custom', message: 'writers: integers 1–64, comma-separated' });
      return list;
    }),
    rounds: z.coerce.number().int().min(1).max(100_000),
    items: z.coerce.number().int().min(1).max(100),
    journal: z.enum(['wal', 'rollback']),
    shape: z.enum(['plain', 'record']),
    write: z.enum(['transaction', 'puts', 'batch']),
  }),
});

function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks();
}

async function main({ argv }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const dir = mkdtempSync(join(tmpdir(), 'bench-dynamodb-local-'));
  const port = await freePort();
  const ddb = await startDynamoDb(port, dir, 'dynamodb-local', args.journal);
  try {
    const pid = Number(
      execFileSync('pgrep', ['-n', '-f', `DynamoDbLocalLoopback -port ${port}`], { encoding: 'utf8' }),
    );
    const client = createDynamoDbClient({
      endpoint: ddb.endpoint,
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
    });
    const doc = createDocumentClient(client);
    await client.send(new CreateTableCommand(tableOf(args.shape)));
    let key = 0;
    const puts = () =>
      Array.from({ length: args.items }, () => (args.shape === 'record' ? recordPut : plainPut)(key++));
    const once = () => write(doc, args.write, puts());
    const run = async (writers: number) => {
      const latencies: number[] = [];
      await Promise.all(
        Array.from({ length: writers }, async () => {
          for (let i = 0; i < args.rounds; i++) {
            const started = performance.now();
            await once();
            latencies.push(performance.now() - started);
          }
        }),
      );
      return latencies.sort((a, b) => a - b);
    };
    await run(2);
    for (const writers of args.writers) {
      const cpuBefore = processCpuMs(pid);
      const started = performance.now();
      const latencies = await run(writers);
      const seconds = (performance.now() - started) / 1000;
      const items = latencies.length * args.items;
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))]!;
      process.stdout.write(
        `journal ${args.journal} | ${args.shape} by ${args.write} | writers ${String(writers).padStart(2)} | writes/s ${(latencies.length / seconds).toFixed(0).padStart(4)} | ` +
          `items/s ${(items / seconds).toFixed(0).padStart(5)} | p50 ${pct(50).toFixed(1)} ms p90 ${pct(90).toFixed(1)} ms | ` +
          `DynamoDB Local CPU ${((processCpuMs(pid) - cpuBefore) / items).toFixed(3)} ms/item\n`,
      );
    }
    return 0;
  } finally {
    await ddb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const TABLE = 'bench';
type Put = { TableName: string; Item: Record<string, unknown>; ConditionExpression: string };

/** The table: keyed by `id`; for records, OrdersTable's own definition with its history indexes. */
function tableOf(shape: 'plain' | 'record'): CreateTableCommandInput {
  if (shape === 'record') return orderRecordsTable(TABLE);
  return {
    TableName: TABLE,
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

function plainPut(key: number): Put {
  return {
    TableName: TABLE,
    Item: { id: `k${key}`, status: 'ACCEPTED', seq: key + 1, event: { body: 'x'.repeat(360) } },
    ConditionExpression: 'attribute_not_exists(id)',
  };
}

/** Execute's record of an accepted order of the bench's own kind (one account, eight symbols). */
function recordPut(key: number): Put {
  const now = Date.now();
  const tickId = `feed-bench-${now}-${key}`;
  const symbol = ['AAPL', 'MSFT', 'AMZN', 'GOOG', 'META', 'NVDA', 'TSLA', 'NFLX'][key % 8]!;
  const event: OrderEvent = {
    orderId: `${symbol}:${tickId}:0`,
    status: 'ACCEPTED',
    seq: key + 1,
    reason: null,
    account: 'strategy-1',
    symbol,
    side: 'BUY',
    quantity: 10,
    price: 100.25,
    position: 10 * (key + 1),
    tickTs: now - 20,
    commandTs: now - 10,
    executedTs: now,
    correlationId: tickId,
  };
  return orderRecordPut(TABLE, event, now, 90);
}

/** The items as one write of the kind asked. */
async function write(doc: DynamoDBDocumentClient, how: 'transaction' | 'puts' | 'batch', items: Put[]) {
  if (how === 'transaction') {
    await doc.send(new TransactWriteCommand({ TransactItems: items.map((Put) => ({ Put })) }));
  } else if (how === 'puts') {
    await Promise.all(items.map((put) => doc.send(new PutCommand(put))));
  } else {
    const chunks = Array.from({ length: Math.ceil(items.length / 25) }, (_, i) => items.slice(i * 25, i * 25 + 25));
    // New keys on an unthrottled emulator: nothing should come back unprocessed; if it does, the figure would be wrong.
    const outs = await Promise.all(
      chunks.map((chunk) =>
        doc.send(
          new BatchWriteCommand({ RequestItems: { [TABLE]: chunk.map(({ Item }) => ({ PutRequest: { Item } })) } }),
        ),
      ),
    );
    if (outs.some((out) => Object.keys(out.UnprocessedItems ?? {}).length > 0))
      throw new Error('BatchWriteItem left items unprocessed: the figures would count writes that did not happen');
  }
}

if (require.main === module) runCommand(command, main);
