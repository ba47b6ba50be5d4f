import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { freePort } from '../local-cloud/emulators/child-service';
import { startDynamoDb } from '../local-cloud/emulators/dynamodb';
import { createDocumentClient, createDynamoDbClient, EMULATOR_CREDENTIALS } from '../shared/aws/clients';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { clockTicks } from './lib/process-cpu';

/**
 * `node --import tsx tools/bench-dynamodb-local.ts [--writers 1,2,8] [--rounds N] [--journal wal|rollback]`: how
 * many writes DynamoDB Local (the embedded cloud's DynamoDB, on disk as the stack runs it) takes per second, and
 * whether more concurrent writers get more through. Each writer sends, one after another, TransactWriteItems of 10 (--items)
 * conditional puts of ~400-byte items on new keys — the shape of execute's and market-data's writes.
 * Prints per writer count: transactions and items per second, latency p50/p90, and DynamoDB Local's CPU per item.
 * A script: it prints, asserts nothing.
 */
const command = defineCommand({
  name: 'tools/bench-dynamodb-local.ts',
  usage: `usage: node --import tsx tools/bench-dynamodb-local.ts [--writers LIST] [--rounds N] [--items N] [--journal wal|rollback]
  --writers LIST   concurrent writers per measurement, comma-separated (default 1,2,8)
  --rounds N       transactions per writer, after as many not measured (default 60)
  --items N        conditional puts per transaction, 1–100 (default 10)
  --journal MODE   DynamoDB Local's SQLite journal: wal (the embedded cloud's) or rollback (its own default)`,
  options: {
    writers: { type: 'string', default: '1,2,8' },
    rounds: { type: 'string', default: '60' },
    items: { type: 'string', default: '10' },
    journal: { type: 'string', default: 'wal' },
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
    await client.send(
      new CreateTableCommand({
        TableName: 'bench',
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    let key = 0;
    const transaction = () =>
      doc.send(
        new TransactWriteCommand({
          TransactItems: Array.from({ length: args.items }, () => ({
            Put: {
              TableName: 'bench',
              Item: { id: `k${key++}`, status: 'ACCEPTED', seq: key, event: { body: 'x'.repeat(360) } },
              ConditionExpression: 'attribute_not_exists(id)',
            },
          })),
        }),
      );
    const run = async (writers: number) => {
      const latencies: number[] = [];
      await Promise.all(
        Array.from({ length: writers }, async () => {
          for (let i = 0; i < args.rounds; i++) {
            const started = performance.now();
            await transaction();
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
        `journal ${args.journal} | writers ${String(writers).padStart(2)} | transactions/s ${(latencies.length / seconds).toFixed(0).padStart(4)} | ` +
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

if (require.main === module) runCommand(command, main);
