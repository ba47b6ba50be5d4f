import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { startLogsEmulator, type RunningLogsEmulator } from '../../../local-cloud/logs-emulator';
import {
  formatEvent,
  parseDuration,
  parseOptions,
  printLogs,
  resolveLogGroup,
  type LogsOptions,
} from '../../../tools/logs';
import { sleep } from '../../../shared/util/wait';
import { createCloudWatchLogsClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';

const ROOT = resolve(__dirname, '../../..');
let emulator: RunningLogsEmulator;
let client: CloudWatchLogsClient;
const EXECUTE_GROUP = '/aws/lambda/PipelineStack-ExecuteFunction1A2B3C';

async function put(group: string, stream: string, messages: string[], at = Date.now()): Promise<void> {
  await client.send(
    new PutLogEventsCommand({
      logGroupName: group,
      logStreamName: stream,
      logEvents: messages.map((message, i) => ({ timestamp: at + i, message })),
    }),
  );
}

beforeAll(async () => {
  emulator = await startLogsEmulator();
  client = createCloudWatchLogsClient({
    endpoint: emulator.endpoint,
    region: 'us-east-1',
    credentials: EMULATOR_CREDENTIALS,
  });
  for (const group of [
    EXECUTE_GROUP,
    '/aws/lambda/PipelineStack-ProcessFunctionD4E5F6',
    '/aws/lambda/PipelineStack-ApiFunction0A0B0C',
    '/aws/lambda/PipelineStack-ApiFunctionOther',
  ]) {
    await client.send(new CreateLogGroupCommand({ logGroupName: group }));
    await client.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: '2026/01/01/[$LATEST]abc' }));
  }
  await put(EXECUTE_GROUP, '2026/01/01/[$LATEST]abc', [
    'START RequestId: r-1 Version: $LATEST',
    '{"level":"ERROR","message":"order rejected","orderId":"o-1"}',
    'END RequestId: r-1',
  ]);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
});

const options = (extra: Partial<LogsOptions> = {}): LogsOptions => ({
  group: 'execute',
  sinceMs: 3_600_000,
  follow: false,
  pretty: false,
  target: 'endpoint',
  endpoint: emulator.endpoint,
  region: 'us-east-1',
  pollIntervalMs: 100,
  useTestCredentials: true,
  ...extra,
});

describe('option parsing', () => {
  const env = { LOGS_POLL_INTERVAL_MS: 1000 };
  it('chooses the target: --target, then AWS_ENDPOINT_URL, then AWS_PROFILE, else the embedded cloud', () => {
    expect(parseOptions(['execute'], env)).toMatchObject({ target: 'embedded', endpoint: 'http://127.0.0.1:4566' });
    expect(parseOptions(['execute'], { ...env, AWS_ENDPOINT_URL: 'http://localhost:4566' })).toMatchObject({
      target: 'endpoint',
      endpoint: 'http://localhost:4566',
    });
    expect(parseOptions(['execute'], { ...env, AWS_PROFILE: 'prod' })).toMatchObject({ target: 'aws' });
    expect(parseOptions(['execute', '--target', 'aws'], { ...env, AWS_ENDPOINT_URL: 'http://x:1' })).toEqual(
      expect.not.objectContaining({ endpoint: expect.anything() }),
    );
    expect(parseOptions(['execute', '--target', 'localstack'], env)).toMatchObject({ useTestCredentials: true });
  });

  it('reads --filter, --since, --follow and rejects bad input clearly', () => {
    expect(parseOptions(['execute', '--filter', 'ERROR', '--since', '2h', '-f'], env)).toMatchObject({
      filter: 'ERROR',
      sinceMs: 7_200_000,
      follow: true,
    });
    expect(parseDuration('30s')).toBe(30_000);
    expect(() => parseDuration('ten minutes')).toThrow(/--since: expected a duration/);
    expect(() => parseOptions([], env)).toThrow(/expected one function/);
    expect(() => parseOptions(['x', '--target', 'gcp'], env)).toThrow(
      /--target 'gcp': must be embedded, localstack or aws/,
    );
  });
});

describe('log group resolution', () => {
  it('resolves a short function name to the CDK-named group, and uses full names as given', async () => {
    expect(await resolveLogGroup(client, 'execute')).toBe(EXECUTE_GROUP);
    expect(await resolveLogGroup(client, 'Process')).toBe('/aws/lambda/PipelineStack-ProcessFunctionD4E5F6');
    expect(await resolveLogGroup(client, '/custom/group')).toBe('/custom/group');
  });

  it('names the candidates when ambiguous or missing', async () => {
    await expect(resolveLogGroup(client, 'api')).rejects.toThrow(/matches several log groups[\s\S]*ApiFunction0A0B0C/);
    await expect(resolveLogGroup(client, 'ingest')).rejects.toThrow(
      /no log group for function 'ingest'[\s\S]*existing/,
    );
  });
});

describe('printing', () => {
  it('prints CloudWatch-style lines, filtered, optionally with pretty JSON', async () => {
    const lines: string[] = [];
    await printLogs(options({ filter: '{ $.level = "ERROR" }' }), (l) => lines.push(l), undefined, client);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 2026\/01\/01\/\[\$LATEST\]abc \{"level":"ERROR","message":"order rejected","orderId":"o-1"\}$/,
    );
    expect(formatEvent({ timestamp: 0, logStreamName: 's', message: '{"a":1}\n' }, true)).toBe(
      '1970-01-01T00:00:00.000Z s {\n  "a": 1\n}',
    );
  });

  it('--follow keeps printing new events, each once, until stopped', async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const following = printLogs(options({ follow: true, filter: 'follow' }), (l) => lines.push(l), stop.signal, client);
    const at = Date.now();
    await put(EXECUTE_GROUP, '2026/01/01/[$LATEST]abc', ['follow 1', 'follow 2'], at);
    const deadline = Date.now() + 10_000;
    while (lines.length < 2 && Date.now() < deadline) await sleep(50);
    await put(EXECUTE_GROUP, '2026/01/01/[$LATEST]abc', ['follow 3'], at + 1);
    while (lines.length < 3 && Date.now() < deadline) await sleep(50);
    await sleep(300); // a few more polls: nothing may repeat
    stop.abort();
    await following;
    expect(lines.map((l) => l.split(' ').slice(2).join(' '))).toEqual(['follow 1', 'follow 2', 'follow 3']);
  });
});

describe('npm run logs', () => {
  it('runs as a command against an endpoint given by AWS_ENDPOINT_URL', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_ENDPOINT_URL: emulator.endpoint };
    delete env.AWS_ENDPOINT_URL_CLOUDWATCH_LOGS;
    const { stdout, code } = await new Promise<{ stdout: string; code: number }>((done) => {
      execFile(
        process.execPath,
        [resolve(ROOT, 'node_modules/tsx/dist/cli.mjs'), 'tools/logs.ts', 'execute', '--filter', 'RequestId'],
        { cwd: ROOT, env, timeout: 30_000 },
        (err, out) => done({ stdout: out, code: err ? Number(err.code ?? 1) : 0 }),
      );
    });
    expect(code).toBe(0);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => l.split(' ').slice(2).join(' ')),
    ).toEqual(['START RequestId: r-1 Version: $LATEST', 'END RequestId: r-1']);
  });
});
