import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DeleteLogGroupCommand,
  DeleteLogStreamCommand,
  DeleteRetentionPolicyCommand,
  DescribeLogGroupsCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  paginateDescribeLogGroups,
  paginateFilterLogEvents,
  paginateGetLogEvents,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { startLogsEmulator, type RunningLogsEmulator } from '../../../local-cloud/logs-emulator';
import { createCloudWatchLogsClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';

const DAY = 86_400_000;
const run = Math.random().toString(36).slice(2, 8);

let dataDir: string;
let emulator: RunningLogsEmulator;
let client: CloudWatchLogsClient;

function connect(endpoint: string): CloudWatchLogsClient {
  return createCloudWatchLogsClient({
    endpoint,
    region: 'eu-west-1',
    credentials: EMULATOR_CREDENTIALS,
    maxAttempts: 1,
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'logs-emulator-'));
  emulator = await startLogsEmulator({ dataDir });
  client = connect(emulator.endpoint);
});

afterAll(async () => {
  client.destroy();
  await emulator.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function expectAwsError(p: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { name: string; message: string; $metadata: { httpStatusCode?: number } } | undefined;
  expect(err).toBeDefined();
  expect(err?.name).toBe(name);
  expect(err?.$metadata.httpStatusCode).toBe(400);
  if (message) expect(err?.message).toMatch(message);
}

async function groupWithStreams(name: string, streams: string[]): Promise<string> {
  const group = `/test/${run}/${name}`;
  await client.send(new CreateLogGroupCommand({ logGroupName: group }));
  for (const s of streams) await client.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: s }));
  return group;
}

async function put(group: string, stream: string, logEvents: InputLogEvent[]) {
  return client.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents }));
}

describe('log groups', () => {
  it('creates, describes by prefix with pagination, and deletes groups', async () => {
    const prefix = `/test/${run}/paging/`;
    const names = ['a', 'b', 'c', 'd', 'e'].map((n) => `${prefix}${n}`);
    for (const n of names) await client.send(new CreateLogGroupCommand({ logGroupName: n }));

    const first = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: prefix, limit: 2 }));
    expect(first.logGroups?.map((g) => g.logGroupName)).toEqual(names.slice(0, 2));
    expect(first.nextToken).toBeDefined();
    expect(first.logGroups?.[0]?.arn).toBe(`arn:aws:logs:eu-west-1:000000000000:log-group:${names[0]}:*`);

    const all: string[] = [];
    for await (const page of paginateDescribeLogGroups({ client, pageSize: 2 }, { logGroupNamePrefix: prefix })) {
      all.push(...(page.logGroups ?? []).map((g) => g.logGroupName as string));
    }
    expect(all).toEqual(names);

    await client.send(new DeleteLogGroupCommand({ logGroupName: names[4] }));
    const after = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: prefix }));
    expect(after.logGroups?.map((g) => g.logGroupName)).toEqual(names.slice(0, 4));
    expect(after.nextToken).toBeUndefined();
  });

  it('answers with AWS exception names', async () => {
    const group = await groupWithStreams('errors', ['s']);
    await expectAwsError(
      client.send(new CreateLogGroupCommand({ logGroupName: group })),
      'ResourceAlreadyExistsException',
    );
    await expectAwsError(
      client.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: 's' })),
      'ResourceAlreadyExistsException',
    );
    await expectAwsError(
      client.send(new DeleteLogGroupCommand({ logGroupName: `${group}-nope` })),
      'ResourceNotFoundException',
      /log group does not exist/,
    );
    await expectAwsError(
      client.send(new CreateLogGroupCommand({ logGroupName: 'bad name with spaces' })),
      'InvalidParameterException',
      /logGroupName/,
    );
    await expectAwsError(
      client.send(new DescribeLogGroupsCommand({ nextToken: 'not-a-token' })),
      'InvalidParameterException',
      /nextToken is invalid/,
    );
  });

  it('rejects an unknown action naming the supported ones', async () => {
    const res = await fetch(emulator.endpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'Logs_20140328.StartQuery', 'content-type': 'application/x-amz-json-1.1' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { __type: string; message: string };
    expect(body.__type).toBe('UnknownOperationException');
    expect(body.message).toMatch(/StartQuery.*FilterLogEvents/);
  });
});

describe('log streams', () => {
  it('describes by prefix and by last event time, descending, with pagination', async () => {
    const group = await groupWithStreams('streams', ['app-1', 'app-2', 'web-1']);
    const now = Date.now();
    await put(group, 'web-1', [{ timestamp: now - 3000, message: 'w' }]);
    await put(group, 'app-2', [{ timestamp: now - 2000, message: 'a2' }]);
    await put(group, 'app-1', [{ timestamp: now - 1000, message: 'a1' }]);

    const byPrefix = await client.send(
      new DescribeLogStreamsCommand({ logGroupName: group, logStreamNamePrefix: 'app' }),
    );
    expect(byPrefix.logStreams?.map((s) => s.logStreamName)).toEqual(['app-1', 'app-2']);

    const newestFirst = await client.send(
      new DescribeLogStreamsCommand({ logGroupName: group, orderBy: 'LastEventTime', descending: true, limit: 2 }),
    );
    expect(newestFirst.logStreams?.map((s) => s.logStreamName)).toEqual(['app-1', 'app-2']);
    expect(newestFirst.logStreams?.[0]?.lastEventTimestamp).toBe(now - 1000);
    expect(newestFirst.logStreams?.[0]?.firstEventTimestamp).toBe(now - 1000);
    const rest = await client.send(
      new DescribeLogStreamsCommand({
        logGroupName: group,
        orderBy: 'LastEventTime',
        descending: true,
        limit: 2,
        nextToken: newestFirst.nextToken,
      }),
    );
    expect(rest.logStreams?.map((s) => s.logStreamName)).toEqual(['web-1']);
    expect(rest.nextToken).toBeUndefined();

    await expectAwsError(
      client.send(
        new DescribeLogStreamsCommand({ logGroupName: group, orderBy: 'LastEventTime', logStreamNamePrefix: 'a' }),
      ),
      'InvalidParameterException',
      /LastEventTime/,
    );

    await client.send(new DeleteLogStreamCommand({ logGroupName: group, logStreamName: 'web-1' }));
    const left = await client.send(
      new DescribeLogStreamsCommand({ logGroupIdentifier: `arn:aws:logs:eu-west-1:000000000000:log-group:${group}` }),
    );
    expect(left.logStreams?.map((s) => s.logStreamName)).toEqual(['app-1', 'app-2']);
  });
});

describe('PutLogEvents validation', () => {
  let group: string;
  beforeAll(async () => {
    group = await groupWithStreams('put', ['s']);
  });

  it('rejects a batch out of chronological order, and stores nothing of it', async () => {
    const now = Date.now();
    await expectAwsError(
      put(group, 's', [
        { timestamp: now, message: 'second' },
        { timestamp: now - 1, message: 'first' },
      ]),
      'InvalidParameterException',
      /chronological order/,
    );
    const got = await client.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: 's' }));
    expect(got.events).toEqual([]);
  });

  it('reports too-old and too-new events and keeps the rest', async () => {
    const now = Date.now();
    const old = await put(group, 's', [
      { timestamp: now - 15 * DAY, message: 'too old' },
      { timestamp: now - 15 * DAY + 1, message: 'too old as well' },
    ]);
    expect(old.rejectedLogEventsInfo).toEqual({ tooOldLogEventEndIndex: 2 });
    const res = await put(group, 's', [
      { timestamp: now - 1000, message: 'kept' },
      { timestamp: now + 3 * 3_600_000, message: 'too new' },
    ]);
    expect(res.rejectedLogEventsInfo).toEqual({ tooNewLogEventStartIndex: 1 });
    const got = await client.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: 's' }));
    expect(got.events?.map((e) => e.message)).toEqual(['kept']);
  });

  it('enforces size limits, a 24-hour span, and an existing stream', async () => {
    const now = Date.now();
    await expectAwsError(
      put(group, 's', [{ timestamp: now, message: 'x'.repeat(262_144) }]),
      'InvalidParameterException',
      /maximum is 262144/,
    );
    const big = 'y'.repeat(200_000);
    await expectAwsError(
      put(
        group,
        's',
        Array.from({ length: 6 }, () => ({ timestamp: now, message: big })),
      ),
      'InvalidParameterException',
      /maximum is 1048576/,
    );
    await expectAwsError(
      put(group, 's', [
        { timestamp: now - 2 * DAY, message: 'a' },
        { timestamp: now, message: 'b' },
      ]),
      'InvalidParameterException',
      /24 hours/,
    );
    await expectAwsError(
      put(group, 'nope', [{ timestamp: now, message: 'x' }]),
      'ResourceNotFoundException',
      /log stream/,
    );
  });
});

describe('GetLogEvents', () => {
  let group: string;
  const base = Date.now() - 60_000;
  beforeAll(async () => {
    group = await groupWithStreams('get', ['s']);
    await put(
      group,
      's',
      Array.from({ length: 10 }, (_, i) => ({ timestamp: base + i * 10, message: `m${i}` })),
    );
  });
  const get = (extra: Partial<ConstructorParameters<typeof GetLogEventsCommand>[0]> = {}) =>
    client.send(new GetLogEventsCommand({ logGroupName: group, logStreamName: 's', ...extra }));

  it('returns the newest events by default and the oldest with startFromHead', async () => {
    expect((await get({ limit: 3 })).events?.map((e) => e.message)).toEqual(['m7', 'm8', 'm9']);
    expect((await get({ limit: 3, startFromHead: true })).events?.map((e) => e.message)).toEqual(['m0', 'm1', 'm2']);
  });

  it('pages forward until the same token comes back, and backward from the end', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await get({ limit: 4, startFromHead: true, ...(token ? { nextToken: token } : {}) });
      seen.push(...(page.events ?? []).map((e) => e.message as string));
      if (page.nextForwardToken === token) break;
      token = page.nextForwardToken;
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));

    const last = await get({ limit: 4 });
    const before = await get({ limit: 4, nextToken: last.nextBackwardToken });
    expect(before.events?.map((e) => e.message)).toEqual(['m2', 'm3', 'm4', 'm5']);
    const first = await get({
      limit: 4,
      nextToken: (await get({ limit: 2, nextToken: before.nextBackwardToken })).nextBackwardToken,
    });
    expect(first.events).toEqual([]);
    expect(first.nextBackwardToken).toBeDefined();
  });

  it('works with the SDK paginator when told to stop on a repeated token (as on AWS)', async () => {
    const seen: string[] = [];
    for await (const page of paginateGetLogEvents(
      { client, pageSize: 3, stopOnSameToken: true },
      { logGroupName: group, logStreamName: 's', startFromHead: true },
    )) {
      seen.push(...(page.events ?? []).map((e) => e.message as string));
    }
    expect(seen).toHaveLength(10);
  });

  it('limits to [startTime, endTime) and sees new events through the forward token', async () => {
    const ranged = await get({ startTime: base + 20, endTime: base + 50, startFromHead: true });
    expect(ranged.events?.map((e) => e.message)).toEqual(['m2', 'm3', 'm4']);

    const tail = await get({});
    const idle = await get({ nextToken: tail.nextForwardToken });
    expect(idle.events).toEqual([]);
    expect(idle.nextForwardToken).toBe(tail.nextForwardToken);
    await put(group, 's', [{ timestamp: base + 1000, message: 'late' }]);
    const fresh = await get({ nextToken: tail.nextForwardToken });
    expect(fresh.events?.map((e) => e.message)).toEqual(['late']);
    expect(fresh.events?.[0]?.ingestionTime).toBeGreaterThan(0);

    await expectAwsError(get({ nextToken: 'garbage' }), 'InvalidParameterException', /nextToken/);
  });
});

describe('FilterLogEvents', () => {
  let group: string;
  const base = Date.now() - 120_000;
  beforeAll(async () => {
    group = await groupWithStreams('filter', ['exec-a', 'exec-b', 'other']);
    await put(group, 'exec-a', [
      { timestamp: base + 0, message: JSON.stringify({ level: 'INFO', orderId: 'o-1', quantity: 5 }) },
      { timestamp: base + 20, message: JSON.stringify({ level: 'ERROR', orderId: 'o-2', quantity: 500 }) },
      { timestamp: base + 40, message: 'START RequestId: r-3 Version: $LATEST' },
    ]);
    await put(group, 'exec-b', [
      { timestamp: base + 10, message: JSON.stringify({ level: 'WARN', orderId: 'o-4', quantity: 50 }) },
      { timestamp: base + 30, message: 'REPORT RequestId: r-5 Duration: 3.1 ms' },
    ]);
    await put(group, 'other', [{ timestamp: base + 15, message: 'ERROR in other' }]);
  });
  const filter = async (extra: Partial<ConstructorParameters<typeof FilterLogEventsCommand>[0]> = {}) =>
    (await client.send(new FilterLogEventsCommand({ logGroupName: group, ...extra }))).events?.map((e) => [
      e.logStreamName,
      e.timestamp! - base,
    ]);

  it('interleaves streams by timestamp and selects streams by name or prefix', async () => {
    expect(await filter()).toEqual([
      ['exec-a', 0],
      ['exec-b', 10],
      ['other', 15],
      ['exec-a', 20],
      ['exec-b', 30],
      ['exec-a', 40],
    ]);
    expect(await filter({ logStreamNames: ['exec-b', 'other'] })).toEqual([
      ['exec-b', 10],
      ['other', 15],
      ['exec-b', 30],
    ]);
    expect((await filter({ logStreamNamePrefix: 'exec' }))?.map(([s]) => s)).not.toContain('other');
    expect(await filter({ startTime: base + 15, endTime: base + 30 })).toEqual([
      ['other', 15],
      ['exec-a', 20],
    ]);
    await expectAwsError(
      client.send(new FilterLogEventsCommand({ logGroupName: group, logStreamNames: ['x'], logStreamNamePrefix: 'x' })),
      'InvalidParameterException',
    );
  });

  it('applies text and JSON filter patterns', async () => {
    expect(await filter({ filterPattern: 'ERROR' })).toEqual([
      ['other', 15],
      ['exec-a', 20],
    ]);
    expect(await filter({ filterPattern: '?START ?REPORT' })).toEqual([
      ['exec-b', 30],
      ['exec-a', 40],
    ]);
    expect(await filter({ filterPattern: '"RequestId: r-5"' })).toEqual([['exec-b', 30]]);
    expect(await filter({ filterPattern: 'RequestId -REPORT' })).toEqual([['exec-a', 40]]);
    expect(await filter({ filterPattern: '{ $.quantity >= 50 }' })).toEqual([
      ['exec-b', 10],
      ['exec-a', 20],
    ]);
    expect(await filter({ filterPattern: '{ $.level = "ERROR" || $.orderId = "o-1" }' })).toEqual([
      ['exec-a', 0],
      ['exec-a', 20],
    ]);
    expect(await filter({ filterPattern: '{ $.orderId = o-* && $.quantity < 100 }' })).toEqual([
      ['exec-a', 0],
      ['exec-b', 10],
    ]);
    await expectAwsError(
      client.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: '{ $.level = ' })),
      'InvalidParameterException',
      /Invalid filter pattern/,
    );
  });

  it('paginates with nextToken and limit, and the SDK paginator returns every event once', async () => {
    const page1 = await client.send(new FilterLogEventsCommand({ logGroupName: group, limit: 4 }));
    expect(page1.events).toHaveLength(4);
    expect(page1.nextToken).toBeDefined();
    const page2 = await client.send(
      new FilterLogEventsCommand({ logGroupName: group, limit: 4, nextToken: page1.nextToken }),
    );
    expect(page2.events?.map((e) => e.timestamp! - base)).toEqual([30, 40]);
    expect(page2.nextToken).toBeUndefined();

    const ids: string[] = [];
    for await (const page of paginateFilterLogEvents({ client, pageSize: 2 }, { logGroupName: group })) {
      ids.push(...(page.events ?? []).map((e) => e.eventId as string));
    }
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
  });
});

describe('retention', () => {
  it('drops events older than the retention period and rejects expired ones', async () => {
    const group = await groupWithStreams('retention', ['s']);
    const now = Date.now();
    await put(group, 's', [
      { timestamp: now - 2 * DAY, message: 'two days old' },
      { timestamp: now - 2 * DAY + 1000, message: 'also old' },
    ]);
    await put(group, 's', [{ timestamp: now - 1000, message: 'fresh' }]);

    await expectAwsError(
      client.send(new PutRetentionPolicyCommand({ logGroupName: group, retentionInDays: 2 })),
      'InvalidParameterException',
      /retentionInDays 2 is not one of/,
    );
    await client.send(new PutRetentionPolicyCommand({ logGroupName: group, retentionInDays: 1 }));
    const described = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: group }));
    expect(described.logGroups?.[0]?.retentionInDays).toBe(1);
    expect(described.logGroups?.[0]?.storedBytes).toBe('fresh'.length);

    const got = await client.send(
      new GetLogEventsCommand({ logGroupName: group, logStreamName: 's', startFromHead: true }),
    );
    expect(got.events?.map((e) => e.message)).toEqual(['fresh']);
    const filtered = await client.send(new FilterLogEventsCommand({ logGroupName: group }));
    expect(filtered.events?.map((e) => e.message)).toEqual(['fresh']);

    const res = await put(group, 's', [
      { timestamp: now - DAY - 5000, message: 'expired on arrival' },
      { timestamp: now - DAY + 60_000, message: 'ok' },
    ]);
    expect(res.rejectedLogEventsInfo).toEqual({ expiredLogEventEndIndex: 1 });

    await client.send(new DeleteRetentionPolicyCommand({ logGroupName: group }));
    const cleared = await client.send(new DescribeLogGroupsCommand({ logGroupNamePrefix: group }));
    expect(cleared.logGroups?.[0]?.retentionInDays).toBeUndefined();
  });
});

describe('persistence', () => {
  it('keeps groups, streams, events and retention across restarts, and survives a torn last line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'logs-persist-'));
    try {
      const first = await startLogsEmulator({ dataDir: dir });
      const c1 = connect(first.endpoint);
      await c1.send(new CreateLogGroupCommand({ logGroupName: '/keep' }));
      await c1.send(new CreateLogGroupCommand({ logGroupName: '/gone' }));
      await c1.send(new CreateLogStreamCommand({ logGroupName: '/keep', logStreamName: 's' }));
      await c1.send(new PutRetentionPolicyCommand({ logGroupName: '/keep', retentionInDays: 7 }));
      const now = Date.now();
      await c1.send(
        new PutLogEventsCommand({
          logGroupName: '/keep',
          logStreamName: 's',
          logEvents: [
            { timestamp: now - 10, message: 'one' },
            { timestamp: now, message: 'two' },
          ],
        }),
      );
      await c1.send(new DeleteLogGroupCommand({ logGroupName: '/gone' }));
      c1.destroy();
      await first.stop();
      appendFileSync(join(dir, 'journal.jsonl'), '{"op":"events","g":"/keep","s":"s","e":[[1,'); // crash mid-write

      const second = await startLogsEmulator({ dataDir: dir });
      const c2 = connect(second.endpoint);
      try {
        const groups = await c2.send(new DescribeLogGroupsCommand({}));
        expect(groups.logGroups?.map((g) => [g.logGroupName, g.retentionInDays])).toEqual([['/keep', 7]]);
        const got = await c2.send(
          new GetLogEventsCommand({ logGroupName: '/keep', logStreamName: 's', startFromHead: true }),
        );
        expect(got.events?.map((e) => e.message)).toEqual(['one', 'two']);
        await c2.send(
          new PutLogEventsCommand({
            logGroupName: '/keep',
            logStreamName: 's',
            logEvents: [{ timestamp: now + 1, message: 'three' }],
          }),
        );
        const filtered = await c2.send(new FilterLogEventsCommand({ logGroupName: '/keep' }));
        expect(filtered.events?.map((e) => e.message)).toEqual(['one', 'two', 'three']);
        expect(new Set(filtered.events?.map((e) => e.eventId)).size).toBe(3);
      } finally {
        c2.destroy();
        await second.stop();
      }

      // What was written after the torn line survives the next restart too.
      const third = await startLogsEmulator({ dataDir: dir });
      const c3 = connect(third.endpoint);
      try {
        const filtered = await c3.send(new FilterLogEventsCommand({ logGroupName: '/keep' }));
        expect(filtered.events?.map((e) => e.message)).toEqual(['one', 'two', 'three']);
      } finally {
        c3.destroy();
        await third.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
