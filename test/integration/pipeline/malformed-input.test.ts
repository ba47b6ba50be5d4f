import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyStructuredResultV2, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { decodeRecord } from '../../../shared/aws/kinesis-records';
import { queueDepth } from '../../../shared/aws/queues';
import { OrderCommandSchema } from '../../../shared/domain/command';
import { OrderSchema } from '../../../shared/domain/order';
import { parseTickBatch, TickSchema } from '../../../shared/domain/tick';
import type { LedgerClient } from '../../../shared/raft-client/types';
import { executeHandler, ingestHandler, pipelineClients, processHandler, TestResources } from './support/fixture';
import { fakeContext, httpEvent } from '../../support/lambda-events';
import { drainQueue, readAllRecords } from './support/resources';

jest.setTimeout(180_000);

const validTick = { symbol: 'ACME', price: 12.5, size: 3, ts: 1_767_225_600_000, tickId: 't-1' };
const validCommand = {
  order: { orderId: 'shardId-000000000000:1:0', account: 'acct', symbol: 'ACME', side: 'BUY', quantity: 1, price: 10 },
  tickTs: 1_767_225_600_000,
  commandTs: 1_767_225_600_001,
  correlationId: 'c-1',
};

/** Values that are wrong for most fields: wrong types, out of range, odd strings. */
const junk = fc.oneof(
  fc.constantFrom(
    null,
    undefined,
    true,
    NaN,
    Infinity,
    -Infinity,
    -1,
    0,
    1e13,
    1.5,
    '',
    ' ',
    'lower',
    'a b',
    '🙂',
    [],
    {},
  ),
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.jsonValue(),
);

/** A valid object with one or more fields corrupted, removed, or an unknown field added. */
function corrupt<T extends Record<string, unknown>>(valid: T, paths: string[][]) {
  return fc
    .tuple(fc.constantFrom(...paths), fc.constantFrom('replace', 'delete', 'extra'), junk)
    .map(([path, how, value]) => {
      const copy = structuredClone(valid) as Record<string, unknown>;
      let target = copy;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
      const last = path.at(-1) as string;
      if (how === 'delete') delete target[last];
      else if (how === 'extra') target[`x_${last}`] = value ?? 1;
      else target[last] = value;
      return { value: copy, field: last };
    });
}

const corruptTickWithField = corrupt(validTick, [['symbol'], ['price'], ['size'], ['ts'], ['tickId']]).filter(
  (t) => !TickSchema.safeParse(t.value).success,
);
const corruptTick = corruptTickWithField.map((t) => t.value);
const corruptCommand = corrupt(validCommand, [
  ['order'],
  ['order', 'orderId'],
  ['order', 'account'],
  ['order', 'symbol'],
  ['order', 'side'],
  ['order', 'quantity'],
  ['order', 'price'],
  ['tickTs'],
  ['commandTs'],
  ['correlationId'],
])
  .filter((c) => !OrderCommandSchema.safeParse(c.value).success)
  .map((c) => c.value);

describe('parsers reject malformed input with a reason and never throw', () => {
  it('ticks: every item is either accepted or rejected by index with a reason', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.array(fc.oneof(corruptTick, fc.constant(validTick), junk), { maxLength: 30 })),
        (body) => {
          const parsed = parseTickBatch(body);
          if (!parsed.ok) {
            expect(parsed.reason.length).toBeGreaterThan(0);
            return;
          }
          const indexes = [...parsed.valid.map((v) => v.index), ...parsed.rejected.map((r) => r.index)].sort(
            (a, b) => a - b,
          );
          expect(indexes).toEqual([...indexes.keys()]);
          for (const r of parsed.rejected) expect(r.reason).toMatch(/\S+: \S/);
          for (const v of parsed.valid) expect(TickSchema.parse(v.tick)).toEqual(v.tick);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a corrupted tick is rejected naming the corrupted field', () => {
    fc.assert(
      fc.property(corruptTickWithField, ({ value, field }) => {
        const parsed = parseTickBatch(value);
        expect(parsed.ok && parsed.valid.length).toBe(0);
        // "price: Too small…", or "(root): Unrecognized key: "x_price"" for an added field.
        expect(parsed.ok && parsed.rejected[0]!.reason).toContain(field);
      }),
      { numRuns: 3000 },
    );
  });

  it('commands: corrupted ones fail validation with an issue path', () => {
    fc.assert(
      fc.property(fc.oneof(corruptCommand, fc.jsonValue()), (c) => {
        const parsed = OrderCommandSchema.safeParse(c);
        if (!parsed.success) expect(parsed.error.issues.length).toBeGreaterThan(0);
        else expect(OrderSchema.parse(parsed.data.order)).toEqual(parsed.data.order);
      }),
      { numRuns: 3000 },
    );
  });

  it('stream records: anything in the data field decodes to a tick or to a reason', () => {
    const data = fc.oneof(
      fc.string(),
      fc.base64String(),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64')),
      corruptTick.map((t) =>
        Buffer.from(JSON.stringify({ tick: t, correlationId: 'c', ingestedAt: 1_767_225_600_000 })).toString('base64'),
      ),
    );
    fc.assert(
      fc.property(data, fc.oneof(fc.constant('ACME'), fc.string()), (d, partitionKey) => {
        const decoded = decodeRecord({
          eventID: 'shardId-000000000000:1',
          eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/s',
          kinesis: { partitionKey, sequenceNumber: '1', data: d },
        });
        if (!decoded.ok) expect(decoded.reason.length).toBeGreaterThan(0);
        else expect(TickSchema.parse(decoded.tickRecord.tick)).toEqual(decoded.tickRecord.tick);
      }),
      { numRuns: 3000 },
    );
    expect(decodeRecord(null)).toMatchObject({ ok: false, reason: expect.stringMatching(/not a Kinesis record/) });
  });
});

describe('handlers given malformed input reject it and change nothing', () => {
  const { kinesis, dynamodb, documents, sqs, sns } = pipelineClients();
  const resources = new TestResources({ kinesis, dynamodb, sqs, sns });
  let streamName: string;
  let stateTable: string;
  let ordersTable: string;
  let commandsUrl: string;
  let eventsTopicArn: string;
  let eventsUrl: string;
  let dlqUrl: string;
  let failuresUrl: string;

  beforeAll(async () => {
    let events: { topicArn: string; queueUrls: string[] };
    [commandsUrl, events, dlqUrl, streamName, stateTable, ordersTable, failuresUrl] = await Promise.all([
      resources.fifoQueue('fuzz-commands'),
      resources.fifoTopic('fuzz-events'),
      resources.fifoQueue('fuzz-commands-dlq'),
      resources.stream('fuzz-ticks', 1),
      resources.table('fuzz-state', 'symbol'),
      resources.table('fuzz-orders', 'id'),
      resources.standardQueue('fuzz-process-failures'),
    ]);
    eventsTopicArn = events.topicArn;
    eventsUrl = events.queueUrls[0]!;
  });
  afterAll(() => resources.deleteAll());

  const itemCount = async (table: string) => (await dynamodb.send(new ScanCommand({ TableName: table }))).Count ?? 0;

  it('ingest answers 400 to bodies without a valid tick and writes nothing', async () => {
    const handler = ingestHandler(kinesis, {
      TICKS_STREAM_NAME: streamName,
      FEED_SYMBOLS: 'ACME',
      FEED_TICKS_PER_SECOND: '1',
      FEED_SEED: 's',
    });
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      fc.array(corruptTick, { minLength: 1, maxLength: 20 }).map((ticks) => JSON.stringify(ticks)),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (payload, base64) => {
        const res = (await handler(
          httpEvent('POST', '/ticks', { body: payload, base64 }),
          fakeContext('ingest'),
        )) as APIGatewayProxyStructuredResultV2;
        expect(res.statusCode).toBe(400);
        expect(JSON.parse(res.body as string).message).toEqual(expect.any(String));
      }),
      { numRuns: 1500 },
    );
    expect(await readAllRecords(kinesis, streamName)).toEqual([]);
  });

  it('process sets every malformed record aside in its failure queue at once and writes no state and no command', async () => {
    const handler = processHandler(
      { documents, sqs },
      {
        STRATEGY_TABLE_NAME: stateTable,
        COMMANDS_QUEUE_URL: commandsUrl,
        FAILURE_QUEUE_URL: failuresUrl,
        STRATEGY_FAST_WINDOW: '1',
        STRATEGY_SLOW_WINDOW: '2',
        STRATEGY_ORDER_QUANTITY: '1',
        TRADING_ACCOUNT: 'acct',
      },
    );
    const badData = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'x').toString('base64')),
      corruptTick.map((t) =>
        Buffer.from(JSON.stringify({ tick: t, correlationId: 'c', ingestedAt: 1_767_225_600_000 })).toString('base64'),
      ),
    );
    let seq = 1000n;
    let setAside = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(badData, { minLength: 1, maxLength: 10 }), async (datas) => {
        const records = datas.map((data) => {
          seq += 1n;
          return {
            eventSource: 'aws:kinesis',
            eventVersion: '1.0',
            eventID: `shardId-000000000000:${seq}`,
            eventName: 'aws:kinesis:record',
            invokeIdentityArn: 'arn:aws:iam::123456789012:role/r',
            awsRegion: 'us-east-1',
            eventSourceARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${streamName}`,
            kinesis: {
              kinesisSchemaVersion: '1.0',
              partitionKey: 'ACME',
              sequenceNumber: String(seq),
              data,
              approximateArrivalTimestamp: 1,
            },
          };
        });
        const res = await handler({ Records: records });
        // Nothing left to retry: each record is in the failure queue, none holds the shard.
        expect(res.batchItemFailures).toEqual([]);
        setAside += records.length;
      }),
      { numRuns: 400 },
    );
    expect(await queueDepth(sqs, failuresUrl)).toBe(setAside);
    expect(await itemCount(stateTable)).toBe(0);
    expect(await drainQueue(sqs, commandsUrl)).toEqual([]);
  });

  it('execute dead-letters every malformed command at once, before it reaches the ledger, the records or the events', async () => {
    // Not a stand-in for the ledger: a tripwire proving no malformed command ever reaches it.
    const tripwire: LedgerClient = {
      applyOrder: () => Promise.reject(new Error('a malformed command reached the ledger')),
      applyOrders: () => Promise.reject(new Error('a malformed command reached the ledger')),
      getOrder: () => Promise.reject(new Error('unexpected')),
      cancelOrder: () => Promise.reject(new Error('unexpected')),
      positions: () => Promise.reject(new Error('unexpected')),
      status: () => Promise.reject(new Error('unexpected')),
    };
    let ledgerCalls = 0;
    const handler = executeHandler(
      { documents, sqs, sns },
      {
        ORDERS_TABLE_NAME: ordersTable,
        ORDER_HISTORY_RETENTION_DAYS: '90',
        EVENTS_TOPIC_ARN: eventsTopicArn,
        COMMANDS_DLQ_URL: dlqUrl,
        // Never sent to: no malformed command gets as far as an event.
        ACCOUNT_UPDATES_QUEUE_URL: 'http://127.0.0.1:9/000000000000/account-updates.fifo',
        RAFT_MEMBERS: 'http://127.0.0.1:9',
        RAFT_AUTH_SECRET: 's',
      },
      async () => {
        ledgerCalls++;
        return tripwire;
      },
    );
    const body = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      corruptCommand.map((c) => JSON.stringify(c)),
    );
    let n = 0;
    let dead = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(body, fc.constantFrom('G1', 'G2', 'G3')), { minLength: 1, maxLength: 10 }),
        async (messages) => {
          const records: SQSRecord[] = messages.map(([b, group]) => {
            n++;
            return {
              messageId: `m-${n}`,
              receiptHandle: `rh-${n}`,
              body: b,
              attributes: {
                ApproximateReceiveCount: '1',
                SentTimestamp: '1767225600000',
                SenderId: 'AROAEXAMPLE',
                ApproximateFirstReceiveTimestamp: '1767225600000',
                MessageGroupId: group,
                MessageDeduplicationId: `d-${n}`,
                SequenceNumber: String(n),
              },
              messageAttributes: {},
              md5OfBody: 'x',
              eventSource: 'aws:sqs',
              eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:commands.fifo',
              awsRegion: 'us-east-1',
            };
          });
          const res = await handler({ Records: records });
          expect(res.batchItemFailures).toEqual([]);
          dead += records.length;
        },
      ),
      { numRuns: 200 },
    );
    expect(ledgerCalls).toBe(0);
    // Every one of them is in the DLQ (FIFO dedup by message id: each arrives once), with a reason.
    const inDlq = await drainQueue(sqs, dlqUrl);
    expect(inDlq).toHaveLength(dead);
    expect(await itemCount(ordersTable)).toBe(0);
    expect(await drainQueue(sqs, eventsUrl)).toEqual([]);
  });
});
