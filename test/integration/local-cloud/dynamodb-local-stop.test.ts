/**
 * DynamoDB Local answers a TransactWriteItems once the transaction's COMMIT is queued on its one SQLite thread, not
 * once it ran (SQLiteDBAccess.commitTransaction queues the job and returns). Stopped right then — the local cloud's
 * stop, the chaos scenario restart-emulators — it used to halt with the COMMIT still queued, and a transaction it had
 * answered was gone after the restart. The loopback launcher's shutdown hook now drains that queue before the JVM
 * halts (local-cloud/emulators/DynamoDbLocalLoopback.java).
 *
 * The window is a fraction of a millisecond in a free-running emulator, so this test holds it open: the JDK's own
 * debugger (jdb, over JDWP on loopback) suspends the SQLite thread as it reaches the COMMIT job, the transaction's
 * answer arrives, SIGTERM goes to the JVM, and the thread is let go 500 ms later. With the hook the JVM waits for it
 * and the item is there after a restart; without it the item was missing in 3 of 5 runs (the debugger releases
 * suspended threads as the VM dies, so the COMMIT sometimes still won the race to the halt).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { freePort, waitForHttp } from '../../../local-cloud/emulators/child-service';
import { dynamoDbLocalCommand, javaAvailable, startDynamoDb } from '../../../local-cloud/emulators/dynamodb';
import { createDocumentClient, createDynamoDbClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { sleep } from '../../../shared/util/wait';

jest.setTimeout(120_000);

const jdbPresent = javaAvailable() && spawnSync('jdb', ['-version'], { stdio: 'ignore' }).status === 0;
const COMMIT_JOB =
  'com.amazonaws.services.dynamodbv2.local.shared.access.sqlite.SQLiteDBAccess$33.job(com.almworks.sqlite4java.SQLiteConnection)';

/** jdb attached to a JVM: commands in, and a wait for a line of its output. */
function attachJdb(jdwpPort: number) {
  const jdb = spawn('jdb', ['-attach', `127.0.0.1:${jdwpPort}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  jdb.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  jdb.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  return {
    send: (command: string) => jdb.stdin.write(`${command}\n`),
    waitFor: async (pattern: RegExp, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (Date.now() > deadline) throw new Error(`jdb never printed ${pattern}; it printed:\n${output}`);
        await sleep(50);
      }
    },
    close: () => jdb.kill('SIGKILL'),
  };
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));

(jdbPresent ? describe : describe.skip)('DynamoDB Local stopped between its answer and its COMMIT', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dynamodb-local-commit-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  test('keeps the answered transaction across the restart', async () => {
    const [port, jdwpPort] = [await freePort(), await freePort()];
    const { args, cwd } = dynamoDbLocalCommand(port, dataDir);
    const jdwp = `-agentlib:jdwp=transport=dt_socket,server=y,suspend=n,address=127.0.0.1:${jdwpPort}`;
    const java = spawn('java', [jdwp, ...args], { cwd, stdio: 'ignore' });
    const client = createDynamoDbClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
      maxAttempts: 1,
    });
    const doc = createDocumentClient(client);
    let jdb: ReturnType<typeof attachJdb> | undefined;
    try {
      await waitForHttp(port, 60_000, () => (java.exitCode !== null ? 'java exited' : undefined));
      await client.send(
        new CreateTableCommand({
          TableName: 'answered',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
      await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1, maxDelay: 1 }, { TableName: 'answered' });
      jdb = attachJdb(jdwpPort);
      // `stop thread`: only the thread that reaches the COMMIT job is suspended; the request threads go on.
      jdb.send(`stop thread in ${COMMIT_JOB}`);
      // Deferred until the job class loads, at the first COMMIT: the class-load event sets it before the job runs.
      await jdb.waitFor(/Deferring breakpoint|Set breakpoint/);
      await doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: { TableName: 'answered', Item: { pk: 'order-1' }, ConditionExpression: 'attribute_not_exists(pk)' },
            },
          ],
        }),
      );
      // Answered, and its COMMIT has not run: the SQLite thread is held at the job's first line.
      await jdb.waitFor(/Breakpoint hit: "thread=SQLiteQueue\[/);
      java.kill('SIGTERM');
      await sleep(500);
      jdb.send('resume');
      await exited(java);
    } finally {
      jdb?.close();
      java.kill('SIGKILL');
      client.destroy();
    }
    const restarted = await startDynamoDb(await freePort(), dataDir, 'dynamodb-local');
    const reader = createDynamoDbClient({
      endpoint: restarted.endpoint,
      region: 'us-east-1',
      credentials: EMULATOR_CREDENTIALS,
    });
    try {
      const { Item } = await createDocumentClient(reader).send(
        new GetCommand({ TableName: 'answered', Key: { pk: 'order-1' }, ConsistentRead: true }),
      );
      expect(Item).toEqual({ pk: 'order-1' });
    } finally {
      reader.destroy();
      await restarted.stop();
    }
  });
});
