import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { FeedRunSummary } from '../../../functions/ingest/app';
import { loadIngestConfig } from '../../../functions/ingest/config';
import { createKinesisClient } from '../../../shared/aws/clients';
import { TickRecordSchema } from '../../../shared/domain/tick';
import { MetricName } from '../../../shared/powertools';
import { captureEmf, type EmfCapture } from './support/emf';
import { powertoolsEnv } from './support/env';
import { ingestHandler, pipelineClients, TestResources } from './support/fixture';
import { fakeContext, httpEvent } from '../../support/lambda-events';
import { createStream, deleteStream, readAllRecords, uniqueName } from './support/resources';

const kinesis = createKinesisClient();
const streamName = uniqueName('ticks');
const env = {
  ...powertoolsEnv('ingest'),
  TICKS_STREAM_NAME: streamName,
  FEED_SYMBOLS: 'AAA,BBB',
  FEED_TICKS_PER_SECOND: '20',
  FEED_SEED: 'seed-1',
  FEED_DURATION_SECONDS: '2',
};
const noWait = async () => undefined;

function makeHandler(client: KinesisClient = kinesis, overrides: Record<string, string> = {}) {
  return ingestHandler(client, { ...env, ...overrides }, noWait);
}

const body = (r: APIGatewayProxyStructuredResultV2) => JSON.parse(r.body as string);
const tick = (over: Record<string, unknown> = {}) => ({
  symbol: 'AAA',
  price: 101.5,
  size: 10,
  ts: Date.now(),
  ...over,
});

let emf: EmfCapture;
beforeAll(async () => {
  await createStream(kinesis, streamName, 2);
});
beforeEach(() => {
  emf = captureEmf();
});
afterEach(() => emf.stop());
afterAll(async () => {
  await deleteStream(kinesis, streamName);
});

describe('ingest: POST /ticks', () => {
  it('writes one tick to the stream, keyed by symbol, with its correlation id in the record', async () => {
    const before = (await readAllRecords(kinesis, streamName)).length;
    const handler = makeHandler();
    const res = (await handler(
      httpEvent('POST', '/ticks', { body: JSON.stringify(tick({ tickId: 't-1' })) }),
      fakeContext('ingest'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(202);
    expect(body(res)).toMatchObject({ accepted: [{ index: 0, correlationId: 't-1' }], rejected: [] });
    const records = await readAllRecords(kinesis, streamName);
    expect(records).toHaveLength(before + 1);
    const written = records.find((r) => r.record.SequenceNumber === body(res).accepted[0].sequenceNumber);
    expect(written?.record.PartitionKey).toBe('AAA');
    const data = TickRecordSchema.parse(JSON.parse(Buffer.from(written!.record.Data!).toString('utf8')));
    expect(data).toMatchObject({ tick: { symbol: 'AAA', tickId: 't-1' }, correlationId: 't-1' });
    expect(emf.total(MetricName.TicksIngested)).toBe(1);
  });

  it('accepts the valid ticks of a mixed batch and names each rejected one by index and reason', async () => {
    const handler = makeHandler();
    const ticks = [tick(), tick({ price: -1 }), tick({ symbol: 'BBB' }), { nope: true }, tick({ ts: 12 })];
    const res = (await handler(
      httpEvent('POST', '/ticks', { body: JSON.stringify(ticks), base64: true }),
      fakeContext('ingest'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(202);
    const b = body(res);
    expect(b.accepted.map((a: { index: number }) => a.index)).toEqual([0, 2]);
    expect(b.rejected.map((r: { index: number }) => r.index)).toEqual([1, 3, 4]);
    expect(b.rejected[0].reason).toMatch(/^price:/);
    expect(b.rejected[2].reason).toMatch(/^ts:/);
    expect(emf.total(MetricName.TicksRejected)).toBe(3);
  });

  it('answers 400 when no tick is valid, and for bodies that are not ticks at all', async () => {
    const handler = makeHandler();
    const cases: [string | undefined, RegExp][] = [
      [JSON.stringify([{ symbol: 'lower', price: 1, size: 1, ts: Date.now() }]), /no valid tick/],
      ['{not json', /not JSON/],
      [JSON.stringify([]), /empty/],
      [JSON.stringify(Array.from({ length: 501 }, () => tick())), /at most 500/],
      [undefined, /no body/],
    ];
    for (const [payload, message] of cases) {
      const res = (await handler(
        httpEvent('POST', '/ticks', payload === undefined ? {} : { body: payload }),
        fakeContext('ingest'),
      )) as APIGatewayProxyStructuredResultV2;
      expect(res.statusCode).toBe(400);
      expect(body(res).message).toMatch(message);
    }
  });

  it('writes a full batch of 500 ticks', async () => {
    const handler = makeHandler();
    const ticks = Array.from({ length: 500 }, (_, i) => tick({ symbol: i % 2 ? 'AAA' : 'BBB', price: 100 + i / 100 }));
    const res = (await handler(
      httpEvent('POST', '/ticks', { body: JSON.stringify(ticks) }),
      fakeContext('ingest'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(202);
    expect(body(res).accepted).toHaveLength(500);
    expect(new Set(body(res).accepted.map((a: { sequenceNumber: string }) => a.sequenceNumber)).size).toBe(500);
  });

  it('retries only the records PutRecords reports as throttled, and reports ticks that never land', async () => {
    // MOCKED FAULT: no emulator throttles PutRecords per record, so a wrapper answers the first call with a
    // ProvisionedThroughputExceeded entry for the second record, as Kinesis does under load; everything
    // else goes to the real emulator.
    const sent: number[] = [];
    let calls = 0;
    const throttling = {
      send: async (command: PutRecordsCommand) => {
        calls++;
        sent.push(command.input.Records?.length ?? 0);
        const real = await kinesis.send(
          new PutRecordsCommand({
            ...command.input,
            Records: calls === 1 ? command.input.Records?.filter((_, i) => i !== 1) : command.input.Records,
          }),
        );
        if (calls !== 1) return real;
        const results = [...(real.Records ?? [])];
        results.splice(1, 0, {
          ErrorCode: 'ProvisionedThroughputExceededException',
          ErrorMessage: 'Rate exceeded for shard',
        });
        return { ...real, FailedRecordCount: 1, Records: results };
      },
    } as unknown as KinesisClient;
    const res = (await makeHandler(throttling)(
      httpEvent('POST', '/ticks', {
        body: JSON.stringify([tick({ tickId: 'a' }), tick({ tickId: 'b' }), tick({ tickId: 'c' })]),
      }),
      fakeContext('ingest'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(202);
    expect(sent).toEqual([3, 1]);
    expect(body(res).accepted.map((a: { correlationId: string }) => a.correlationId)).toEqual(['a', 'b', 'c']);
    expect(emf.total(MetricName.PutRecordsRetries)).toBe(1);

    // MOCKED FAULT: a shard that throttles every attempt; the tick must be reported failed, never accepted.
    const alwaysThrottled = {
      send: async () => ({
        FailedRecordCount: 1,
        Records: [{ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' }],
      }),
    } as unknown as KinesisClient;
    const failed = (await makeHandler(alwaysThrottled)(
      httpEvent('POST', '/ticks', { body: JSON.stringify(tick({ tickId: 'z' })) }),
      fakeContext('ingest'),
    )) as APIGatewayProxyStructuredResultV2;
    expect(failed.statusCode).toBe(503);
    expect(body(failed)).toMatchObject({ accepted: [], failed: [{ index: 0, correlationId: 'z' }] });
    expect(body(failed).failed[0].reason).toMatch(/ProvisionedThroughputExceeded/);
  });
});

describe('ingest: scheduled market feed', () => {
  const feeds = new TestResources({ ...pipelineClients(), kinesis });
  afterAll(() => feeds.deleteAll());

  it('emits the configured rate for the configured seconds, deterministically for a scheduled time', async () => {
    const feedStream = await feeds.stream('feed', 1);
    const handler = makeHandler(kinesis, { TICKS_STREAM_NAME: feedStream });
    const trigger = { kind: 'market-feed', scheduledTime: '2026-01-01T00:00:00Z' };
    const summary = (await handler(trigger, fakeContext('ingest'))) as FeedRunSummary;
    expect(summary).toEqual({ ticksSent: 40, ticksNotLanded: 0, seconds: 2 });
    const again = (await handler(trigger, fakeContext('ingest'))) as FeedRunSummary;
    expect(again.ticksSent).toBe(40);
    const records = (await readAllRecords(kinesis, feedStream)).map((r) =>
      TickRecordSchema.parse(JSON.parse(Buffer.from(r.record.Data!).toString('utf8'))),
    );
    expect(records).toHaveLength(80);
    // Same schedule time → the same walk: a retried schedule re-sends identical ticks.
    expect(records.slice(40).map((r) => r.tick)).toEqual(records.slice(0, 40).map((r) => r.tick));
    expect(new Set(records.slice(0, 40).map((r) => r.tick.symbol))).toEqual(new Set(['AAA', 'BBB']));
  });

  it('writes no tick before its own timestamp (real clock), so tick→event latency is never negative', async () => {
    const feedStream = await feeds.stream('feed-clock', 1);
    // The real sleep, not noWait: the feed waits for each tick's time.
    const handler = ingestHandler(kinesis, { ...env, TICKS_STREAM_NAME: feedStream, FEED_DURATION_SECONDS: '1' });
    const summary = (await handler(
      { kind: 'market-feed', scheduledTime: new Date().toISOString() },
      fakeContext('ingest'),
    )) as FeedRunSummary;
    expect(summary.ticksSent).toBe(20);
    const records = await readAllRecords(kinesis, feedStream);
    for (const { record } of records) {
      const { tick } = TickRecordSchema.parse(JSON.parse(Buffer.from(record.Data!).toString('utf8')));
      // kinesalite stamps the arrival in milliseconds when PutRecords is handled.
      expect(record.ApproximateArrivalTimestamp!.getTime()).toBeGreaterThanOrEqual(tick.ts);
    }
  });

  it('without FEED_DURATION_SECONDS feeds for the invocation’s remaining time minus a margin', async () => {
    const feedStream = await feeds.stream('feed-default', 1);
    const { FEED_DURATION_SECONDS: _omit, ...noDuration } = env;
    const handler = ingestHandler(kinesis, { ...noDuration, TICKS_STREAM_NAME: feedStream }, noWait);
    // 13.5 s left, 10 s kept for the last writes → 3 one-second rounds of 20 ticks.
    const summary = (await handler({ kind: 'market-feed' }, fakeContext('ingest', 13_500))) as FeedRunSummary;
    expect(summary).toEqual({ ticksSent: 60, ticksNotLanded: 0, seconds: 3 });
  });

  it('refuses an event that is neither trigger, naming what is wrong', async () => {
    await expect(makeHandler()({ hello: 'world' }, fakeContext('ingest'))).rejects.toThrow(/neither an HTTP API v2/);
  });
});

describe('ingest: config', () => {
  it('fails at init naming the missing or bad variable', () => {
    const { TICKS_STREAM_NAME: _omit, ...missing } = env;
    expect(() => loadIngestConfig(missing)).toThrow(/TICKS_STREAM_NAME is not set/);
    expect(() => loadIngestConfig({ ...env, FEED_TICKS_PER_SECOND: 'fast' })).toThrow(
      /FEED_TICKS_PER_SECOND: must be an integer/,
    );
    expect(() => loadIngestConfig({ ...env, FEED_SYMBOLS: 'ok,bad symbol' })).toThrow(/FEED_SYMBOLS/);
  });
});
