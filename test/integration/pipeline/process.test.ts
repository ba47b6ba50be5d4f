import { createHash } from 'node:crypto';
import type { Message } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { KinesisStreamEvent } from 'aws-lambda';
import { loadProcessConfig } from '../../../functions/process/config';
import { StrategyStateStore, type StoredStrategyState } from '../../../functions/process/state-store';
import {
  createDocumentClient,
  createDynamoDbClient,
  createKinesisClient,
  createSqsClient,
} from '../../../shared/aws/clients';
import { putRecords } from '../../../shared/aws/put-records';
import type { OrderCommand } from '../../../shared/domain/command';
import type { TickRecord } from '../../../shared/domain/tick';
import { MetricName } from '../../../shared/powertools';
import { captureEmf, type EmfCapture } from './support/emf';
import { powertoolsEnv } from './support/env';
import { injectFault, loseNextResponse, recordCalls, refuseBatchEntries } from './support/faults';
import { ingestHandler, pipelineClients, processHandler, TestResources } from './support/fixture';
import { kinesisEvent } from './support/kinesis-event';
import { fakeContext, httpEvent } from '../../support/lambda-events';
import { drainQueue, readAllRecords } from './support/resources';
import { commandsIn } from './support/sqs-event';

const { kinesis, dynamodb, documents, sqs } = pipelineClients();
const resources = new TestResources({ kinesis, dynamodb, sqs });
let streamName: string;
let tableName: string;
let queueUrl: string;
let failureQueueUrl: string;

function makeHandler(overrides: { sqs?: typeof sqs; documents?: typeof documents } = {}) {
  return processHandler(
    { documents: overrides.documents ?? documents, sqs: overrides.sqs ?? sqs },
    {
      STRATEGY_TABLE_NAME: tableName,
      COMMANDS_QUEUE_URL: queueUrl,
      FAILURE_QUEUE_URL: failureQueueUrl,
      STRATEGY_FAST_WINDOW: '2',
      STRATEGY_SLOW_WINDOW: '4',
      STRATEGY_ORDER_QUANTITY: '5',
      TRADING_ACCOUNT: 'acct-1',
    },
  );
}

/** Writes ticks through the real stream and returns them as the event source mapping would deliver them. */
let tickCounter = 0;
async function streamTicks(symbol: string, prices: number[]): Promise<KinesisStreamEvent> {
  return streamRecords(
    symbol,
    prices.map((price, i) => ({
      tick: { symbol, price, size: 1, ts: 1_767_225_600_000 + i, tickId: `${symbol}-t${tickCounter++}` },
      correlationId: `${symbol}-c${i}`,
      ingestedAt: 1_767_225_600_000 + i,
    })),
  );
}

async function streamRecords(symbol: string, records: TickRecord[]): Promise<KinesisStreamEvent> {
  const seen = new Set((await readAllRecords(kinesis, streamName)).map((r) => r.record.SequenceNumber));
  const outcomes = await putRecords(
    { kinesis, streamName },
    records.map((r) => ({ partitionKey: symbol, data: Buffer.from(JSON.stringify(r)) })),
  );
  expect(outcomes.every((o) => o.landed)).toBe(true);
  const all = await readAllRecords(kinesis, streamName);
  return kinesisEvent(
    streamName,
    all.filter((r) => !seen.has(r.record.SequenceNumber)),
  );
}

const recordOf = (record: KinesisStreamEvent['Records'][number]): TickRecord =>
  JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8')) as TickRecord;
const tickIdOf = (record: KinesisStreamEvent['Records'][number]): string => recordOf(record).tick.tickId;
/** The commands of the messages, in order (a message carries a symbol's commands of a batch, packed). */
const commandsOf = (messages: Message[]): OrderCommand[] => messages.flatMap((m) => commandsIn(m.Body!));
const loadState = (symbol: string) => new StrategyStateStore(documents, tableName).load(symbol);

// Falling then rising: the averages relate for the first time at the 4th tick (BELOW), cross at 12 (BUY),
// and cross back at 6 (SELL).
const PRICES = [10, 9, 8, 7, 12, 14, 15, 6, 5];

let emf: EmfCapture;
beforeAll(async () => {
  streamName = await resources.stream('process-ticks', 1);
  tableName = await resources.table('strategy-state', 'symbol');
  queueUrl = await resources.fifoQueue('commands');
  failureQueueUrl = await resources.standardQueue('process-failures');
});
beforeEach(async () => {
  await drainQueue(sqs, queueUrl);
  emf = captureEmf();
});
afterEach(() => emf.stop());
afterAll(() => resources.deleteAll());

describe('process', () => {
  it('runs the strategy per symbol and sends order commands with deterministic ids, group and dedup ids', async () => {
    const event = await streamTicks('ACME', PRICES);
    const response = await makeHandler()(event);
    expect(response.batchItemFailures).toEqual([]);

    const messages = await drainQueue(sqs, queueUrl);
    const commands = commandsOf(messages);
    expect(commands.map((c) => [c.order.side, c.order.price])).toEqual([
      ['BUY', 12],
      ['SELL', 6],
    ]);
    expect(commands[0]!.order).toEqual({
      orderId: `ACME:${tickIdOf(event.Records[PRICES.indexOf(12)]!)}:0`,
      account: 'acct-1',
      symbol: 'ACME',
      side: 'BUY',
      quantity: 5,
      price: 12,
    });
    expect(commands[0]).toMatchObject({ tickTs: 1_767_225_600_004, correlationId: 'ACME-c4' });
    // Both in one message of the symbol's group, deduplicated by a digest of their order ids.
    expect(messages).toHaveLength(1);
    const digest = createHash('sha256')
      .update(commands.map((c) => c.order.orderId).join('\n'))
      .digest('hex');
    expect(messages[0]!.Attributes).toMatchObject({ MessageGroupId: 'ACME', MessageDeduplicationId: digest });

    const state = (await loadState('ACME')) as StoredStrategyState;
    expect(state.lastSequenceNumber).toBe(event.Records.at(-1)!.kinesis.sequenceNumber);
    expect(state.state).toEqual({ prices: [14, 15, 6, 5], relation: 'BELOW' });
    // The last tick's price, for orders entered through POST /orders (functions/orders).
    expect(state.lastPrice).toBe(PRICES.at(-1));
    expect(emf.total(MetricName.TicksProcessed)).toBe(PRICES.length);
    expect(emf.total(MetricName.OrdersGenerated)).toBe(2);
  });

  it('a replayed batch yields the same order ids and never advances the state twice', async () => {
    const event = await streamTicks('REPL', PRICES);
    const handler = makeHandler();
    await handler(event);
    const first = commandsOf(await drainQueue(sqs, queueUrl));
    const stateAfterFirst = await loadState('REPL');

    // The mapping redelivers the whole batch (say the first invocation timed out after its writes).
    expect((await handler(event)).batchItemFailures).toEqual([]);
    expect(await loadState('REPL')).toEqual(stateAfterFirst);
    expect(emf.total(MetricName.TicksSkippedAsApplied)).toBe(PRICES.length);
    expect(commandsOf(await drainQueue(sqs, queueUrl))).toEqual([]);

    // A batch that overlaps what was applied: only the new part advances the state, in order.
    const more = await streamTicks('REPL', [20, 21]);
    const overlapping = { Records: [...event.Records.slice(5), ...more.Records] };
    await handler(overlapping);
    const after = (await loadState('REPL')) as StoredStrategyState;
    expect(after.state).toEqual({ prices: [6, 5, 20, 21], relation: 'ABOVE' });
    expect(after.lastSequenceNumber).toBe(more.Records[1]!.kinesis.sequenceNumber);
    const third = commandsOf(await drainQueue(sqs, queueUrl));
    expect(third.map((c) => c.order.side)).toEqual(['BUY']);
    expect(first.map((c) => c.order.orderId)).not.toContain(third[0]!.order.orderId);
  });

  it('the same batch delivered twice at once advances the state once', async () => {
    const event = await streamTicks('CONC', PRICES);
    const [a, b] = await Promise.all([makeHandler()(event), makeHandler()(event)]);
    expect([...a.batchItemFailures, ...b.batchItemFailures]).toEqual([]);
    const state = (await loadState('CONC')) as StoredStrategyState;
    expect(state.state).toEqual({ prices: [14, 15, 6, 5], relation: 'BELOW' });
    const ids = commandsOf(await drainQueue(sqs, queueUrl)).map((c) => c.order.orderId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(2);
  });

  it('a crash between writing the state and sending its commands: the next reader resends the outbox', async () => {
    const event = await streamTicks('CRSH', PRICES);
    const crashingSqs = createSqsClient();
    const heal = injectFault(crashingSqs, (name) => name === 'SendMessageBatchCommand');
    const failed = await makeHandler({ sqs: crashingSqs })(event);
    heal();
    expect(failed.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      event.Records.map((r) => r.kinesis.sequenceNumber),
    );
    const written = (await loadState('CRSH')) as StoredStrategyState;
    expect(written.outbox.map((c) => c.order.side)).toEqual(['BUY', 'SELL']);
    expect(await drainQueue(sqs, queueUrl)).toEqual([]);

    // The redelivery (a new container) reads the state, resends its outbox and skips the applied ticks.
    expect((await makeHandler()(event)).batchItemFailures).toEqual([]);
    expect(commandsOf(await drainQueue(sqs, queueUrl))).toEqual(written.outbox);
    expect(emf.total(MetricName.OutboxResent)).toBe(2);
    expect(emf.total(MetricName.TicksSkippedAsApplied)).toBe(PRICES.length);
    expect(await loadState('CRSH')).toEqual(written);
  });

  it('fails only the symbol whose commands were refused; its redelivery applies it exactly once', async () => {
    const good = await streamTicks('GOOD', PRICES);
    const bad = await streamTicks('BADQ', PRICES);
    const event = { Records: [...good.Records, ...bad.Records] };
    // Both symbols' commands go out in one SendMessageBatch; SQS refuses BADQ's entries only.
    const flakySqs = createSqsClient();
    const heal = refuseBatchEntries(flakySqs, (entry) => entry.MessageGroupId === 'BADQ');
    const handler = makeHandler({ sqs: flakySqs });
    const response = await handler(event);
    heal();
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      bad.Records.map((r) => r.kinesis.sequenceNumber),
    );
    // BADQ's state was written with its commands in the outbox; they were never sent.
    expect(((await loadState('BADQ')) as StoredStrategyState).outbox).toHaveLength(2);
    expect(((await loadState('GOOD')) as StoredStrategyState).lastSequenceNumber).toBe(
      good.Records.at(-1)!.kinesis.sequenceNumber,
    );

    // Lambda resumes from the lowest failed sequence number: BADQ's records (GOOD's precede them here).
    const firstFailed = response.batchItemFailures[0]!.itemIdentifier;
    const redelivery = {
      Records: event.Records.filter((r) => BigInt(r.kinesis.sequenceNumber) >= BigInt(firstFailed)),
    };
    // The same container gets the redelivery: the failure dropped its cached BADQ, so it reads and resends.
    expect((await handler(redelivery)).batchItemFailures).toEqual([]);
    const commands = commandsOf(await drainQueue(sqs, queueUrl));
    expect(commands.filter((c) => c.order.symbol === 'BADQ').map((c) => c.order.side)).toEqual(['BUY', 'SELL']);
    expect(commands.filter((c) => c.order.symbol === 'GOOD').map((c) => c.order.side)).toEqual(['BUY', 'SELL']);
  });

  it('writes every symbol of a batch in one transaction and sends their commands together', async () => {
    const first = await streamTicks('TXA', PRICES);
    const second = await streamTicks('TXB', PRICES);
    const counted = createDocumentClient(createDynamoDbClient());
    const calls = recordCalls(counted);
    const countedSqs = createSqsClient();
    const sends = recordCalls(countedSqs);
    const response = await makeHandler({ documents: counted, sqs: countedSqs })({
      Records: [...first.Records, ...second.Records],
    });
    expect(response.batchItemFailures).toEqual([]);
    // Two reads (nothing cached yet), then one write for both symbols and one send of their four commands.
    expect(calls.map((c) => c.replace(/Item(?=Command)/, ''))).toEqual([
      'GetCommand',
      'GetCommand',
      'TransactWriteItemsCommand',
    ]);
    expect(sends).toEqual(['SendMessageBatchCommand']);
    const commands = commandsOf(await drainQueue(sqs, queueUrl));
    for (const symbol of ['TXA', 'TXB']) {
      expect(commands.filter((c) => c.order.symbol === symbol).map((c) => c.order.side)).toEqual(['BUY', 'SELL']);
      expect(((await loadState(symbol)) as StoredStrategyState).outbox).toHaveLength(2);
    }
  });

  it('a send that fails as a whole fails every symbol in it; the redelivery sends each command once', async () => {
    const first = await streamTicks('WHLA', PRICES);
    const second = await streamTicks('WHLB', PRICES);
    const event = { Records: [...first.Records, ...second.Records] };
    const brokenSqs = createSqsClient();
    const heal = injectFault(brokenSqs, (name) => name === 'SendMessageBatchCommand');
    const response = await makeHandler({ sqs: brokenSqs })(event);
    heal();
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      event.Records.map((r) => r.kinesis.sequenceNumber),
    );
    expect(await drainQueue(sqs, queueUrl)).toEqual([]);
    // A new container: reads both states, resends both outboxes, skips every applied tick.
    expect((await makeHandler()(event)).batchItemFailures).toEqual([]);
    const commands = commandsOf(await drainQueue(sqs, queueUrl));
    expect(commands.map((c) => c.order.symbol).sort()).toEqual(['WHLA', 'WHLA', 'WHLB', 'WHLB']);
    expect(new Set(commands.map((c) => c.order.orderId)).size).toBe(4);
  });

  it('a stale symbol in a shared transaction is re-read; the others of the transaction are written again', async () => {
    const a = makeHandler();
    const b = makeHandler();
    // A caches both symbols; then B advances STLB behind A's back, so A's cached STLB is stale.
    await a({
      Records: [...(await streamTicks('STLA', [10, 9])).Records, ...(await streamTicks('STLB', [10, 9])).Records],
    });
    await b(await streamTicks('STLB', [8, 7]));
    await drainQueue(sqs, queueUrl);
    const next = {
      Records: [...(await streamTicks('STLA', [8, 7])).Records, ...(await streamTicks('STLB', [12, 14])).Records],
    };
    expect((await a(next)).batchItemFailures).toEqual([]);
    // STLB folded from the true state (10, 9, 8, 7 then 12: a BUY), STLA from its cache (no cross yet).
    const commands = commandsOf(await drainQueue(sqs, queueUrl));
    expect(commands.map((c) => [c.order.symbol, c.order.side, c.order.price])).toEqual([['STLB', 'BUY', 12]]);
    expect(((await loadState('STLA')) as StoredStrategyState).state).toEqual({
      prices: [10, 9, 8, 7],
      relation: 'BELOW',
    });
    expect(((await loadState('STLB')) as StoredStrategyState).lastSequenceNumber).toBe(
      next.Records.at(-1)!.kinesis.sequenceNumber,
    );
  });

  it('a warm container processes its next batch of a symbol without reading the state', async () => {
    const counted = createDocumentClient(createDynamoDbClient());
    const calls = recordCalls(counted);
    const handler = makeHandler({ documents: counted });
    await handler(await streamTicks('WARM', PRICES.slice(0, 5)));
    expect(calls.filter((c) => /^Get/.test(c))).toHaveLength(1);
    calls.length = 0;
    expect((await handler(await streamTicks('WARM', PRICES.slice(5)))).batchItemFailures).toEqual([]);
    expect(calls.map((c) => c.replace(/Item(?=Command)/, ''))).toEqual(['TransactWriteItemsCommand']);
    expect(((await loadState('WARM')) as StoredStrategyState).state).toEqual({
      prices: [14, 15, 6, 5],
      relation: 'BELOW',
    });
    expect(commandsOf(await drainQueue(sqs, queueUrl)).map((c) => c.order.side)).toEqual(['BUY', 'SELL']);
  });

  it('continues from a state item written before its fields were packed, and packs it', async () => {
    const first = await streamTicks('UNPK', PRICES.slice(0, 5));
    await makeHandler()(first);
    const key = { TableName: tableName, Key: { symbol: 'UNPK' } };
    // The item as written before session 30: state, recentTickIds and outbox as attributes of their own.
    const { packed, ...top } = (await documents.send(new GetCommand(key))).Item!;
    await documents.send(new PutCommand({ TableName: tableName, Item: { ...top, ...JSON.parse(packed as string) } }));
    // A new container reads it: a redelivery of the first batch is recognised, the next batch goes on from it.
    expect((await makeHandler()(first)).batchItemFailures).toEqual([]);
    expect((await makeHandler()(await streamTicks('UNPK', PRICES.slice(5)))).batchItemFailures).toEqual([]);
    expect(commandsOf(await drainQueue(sqs, queueUrl)).map((c) => c.order.side)).toEqual(['BUY', 'SELL']);
    const item = (await documents.send(new GetCommand(key))).Item!;
    expect(Object.keys(item).sort()).toEqual(
      ['lastPrice', 'lastSequenceNumber', 'lastShardId', 'packed', 'strategy', 'symbol', 'updatedAt'].sort(),
    );
    expect(((await loadState('UNPK')) as StoredStrategyState).state).toEqual({
      prices: [14, 15, 6, 5],
      relation: 'BELOW',
    });
  });

  it('two containers alternating on one symbol send exactly the orders one container would', async () => {
    // From batch 3 on, container A's cached state (after batch 1) is stale: folded from it, batch 3 would give
    // a BUY at 15 instead of the true SELL at 15. The conditional write must catch that before anything is sent.
    const batches = [
      [10, 9, 8, 7],
      [12, 14, 6],
      [15, 16],
      [9, 8, 7, 20],
    ];
    const one = makeHandler();
    for (const prices of batches) await one(await streamTicks('SOLO', prices));
    const solo = commandsOf(await drainQueue(sqs, queueUrl));

    const containers = [makeHandler(), makeHandler()];
    for (const [i, prices] of batches.entries()) {
      expect((await containers[i % 2]!(await streamTicks('ALTR', prices))).batchItemFailures).toEqual([]);
    }
    const alternating = commandsOf(await drainQueue(sqs, queueUrl));
    // Re-reads resend the previous writer's outbox; any resend the FIFO queue let through is the same command.
    const distinct = new Map(alternating.map((c) => [c.order.orderId, c]));
    for (const c of alternating) expect(distinct.get(c.order.orderId)).toEqual(c);
    const shape = (c: OrderCommand) => [c.order.side, c.order.price, c.order.orderId.replace(/^\w+:\w+-t\d+/, '')];
    expect([...distinct.values()].map(shape)).toEqual(solo.map(shape));
    expect(solo.map((c) => [c.order.side, c.order.price])).toEqual([
      ['BUY', 12],
      ['SELL', 15],
      ['BUY', 16],
      ['SELL', 8],
      ['BUY', 20],
    ]);
    expect(((await loadState('ALTR')) as StoredStrategyState).state).toEqual(
      ((await loadState('SOLO')) as StoredStrategyState).state,
    );
  });

  it('a tick that reaches the stream twice (same tickId, new record) is applied and ordered once', async () => {
    const event = await streamTicks('DUPT', PRICES);
    const { Records } = event;
    const handler = makeHandler();
    await handler({ Records: Records.slice(0, 5) });
    // The 12 (which produced the BUY) and the 10 arrive again as new stream records.
    const copies = await streamRecords('DUPT', [recordOf(Records[4]!), recordOf(Records[0]!)]);
    expect((await handler({ Records: [...copies.Records, ...Records.slice(5)] })).batchItemFailures).toEqual([]);
    expect(emf.total(MetricName.DuplicateTicksSkipped)).toBe(2);
    expect(commandsOf(await drainQueue(sqs, queueUrl)).map((c) => [c.order.side, c.order.price])).toEqual([
      ['BUY', 12],
      ['SELL', 6],
    ]);
    expect(((await loadState('DUPT')) as StoredStrategyState).state).toEqual({
      prices: [14, 15, 6, 5],
      relation: 'BELOW',
    });
  });

  it('a tick ingested twice (a client retry; a PutRecords whose response was lost) yields its orders once', async () => {
    const lossyKinesis = createKinesisClient();
    const lostResponse = loseNextResponse(lossyKinesis, 'PutRecordsCommand');
    const ingest = ingestHandler(
      lossyKinesis,
      { TICKS_STREAM_NAME: streamName, FEED_SYMBOLS: 'TWICE', FEED_TICKS_PER_SECOND: '1', FEED_SEED: 's' },
      async () => undefined,
    );
    const post = async (ticks: object[]) =>
      (
        (await ingest(httpEvent('POST', '/ticks', { body: JSON.stringify(ticks) }), fakeContext('ingest'))) as {
          statusCode: number;
        }
      ).statusCode;
    const ticks = PRICES.map((price, i) => ({
      symbol: 'TWICE',
      price,
      size: 1,
      ts: 1_767_225_600_000 + i,
      tickId: `tw-${i}`,
    }));
    const before = new Set((await readAllRecords(kinesis, streamName)).map((r) => r.record.SequenceNumber));

    expect(await post(ticks.slice(0, 5))).toBe(202);
    expect(await post(ticks.slice(0, 5))).toBe(202); // the client did not hear the first answer and retries
    lostResponse.arm(); // these land, the answer is lost, ingest's PutRecords retry writes them again
    expect(await post(ticks.slice(5))).toBe(202);
    const written = (await readAllRecords(kinesis, streamName)).filter((r) => !before.has(r.record.SequenceNumber));
    expect(written).toHaveLength(2 * PRICES.length);

    expect((await makeHandler()(kinesisEvent(streamName, written))).batchItemFailures).toEqual([]);
    const commands = commandsOf(await drainQueue(sqs, queueUrl));
    expect(commands.map((c) => [c.order.orderId, c.order.side, c.order.price])).toEqual([
      ['TWICE:tw-4:0', 'BUY', 12],
      ['TWICE:tw-7:0', 'SELL', 6],
    ]);
    expect(((await loadState('TWICE')) as StoredStrategyState).state).toEqual({
      prices: [14, 15, 6, 5],
      relation: 'BELOW',
    });
  });

  it('sets poison records aside in the failure queue at once, with their reason, and applies the good ones around them', async () => {
    await drainQueue(sqs, failureQueueUrl);
    const event = await streamTicks('PSN', [10, 9, 8, 7, 12]);
    const records = event.Records;
    const poison = [
      { ...records[1]!, kinesis: { ...records[1]!.kinesis, data: Buffer.from('{oops').toString('base64') } },
      { ...records[2]!, kinesis: { ...records[2]!.kinesis, data: '***not base64***' } },
      {
        ...records[3]!,
        kinesis: {
          ...records[3]!.kinesis,
          data: Buffer.from(JSON.stringify({ tick: { symbol: 'PSN', price: -3 } })).toString('base64'),
        },
      },
    ];
    const mixed = { Records: [records[0]!, ...poison, records[4]!] };
    const response = await makeHandler()(mixed);
    // Nothing to retry: a poison record never holds the shard, so the mapping's retries are left to what they can fix.
    expect(response.batchItemFailures).toEqual([]);
    expect(emf.total(MetricName.PoisonRecords)).toBe(3);
    const setAside = (await drainQueue(sqs, failureQueueUrl)).map((m) => JSON.parse(m.Body as string));
    expect(setAside).toHaveLength(3);
    expect(setAside.map((m) => m.sequenceNumber).sort()).toEqual(poison.map((p) => p.kinesis.sequenceNumber).sort());
    for (const p of poison) {
      const message = setAside.find((m) => m.sequenceNumber === p.kinesis.sequenceNumber);
      expect(message).toMatchObject({
        source: 'process',
        data: p.kinesis.data,
        eventID: p.eventID,
        partitionKey: 'PSN',
      });
    }
    expect(setAside.find((m) => m.data === poison[0]!.kinesis.data).reason).toMatch(/not JSON/);
    expect(setAside.find((m) => m.data === poison[1]!.kinesis.data).reason).toMatch(/not base64/);
    expect(setAside.find((m) => m.data === poison[2]!.kinesis.data).reason).toMatch(/invalid tick record/);
    const state = (await loadState('PSN')) as StoredStrategyState;
    expect(state.state).toEqual({ prices: [10, 12], relation: null });
  });

  it('reports poison it could not set aside as failed, so the retry sends it again; the good ticks are applied once', async () => {
    await drainQueue(sqs, failureQueueUrl);
    const event = await streamTicks('PSN2', [10, 9, 12]);
    const bad = {
      ...event.Records[1]!,
      kinesis: { ...event.Records[1]!.kinesis, data: Buffer.from('{').toString('base64') },
    };
    const mixed = { Records: [event.Records[0]!, bad, event.Records[2]!] };
    // A fault nothing else can produce on demand: the failure queue's SendMessageBatch fails (the commands' go on).
    const faulty = createSqsClient();
    const heal = injectFault(
      faulty,
      (name, input) => name === 'SendMessageBatchCommand' && input.QueueUrl === failureQueueUrl,
    );
    const first = await makeHandler({ sqs: faulty })(mixed);
    heal();
    faulty.destroy();
    expect(first.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([bad.kinesis.sequenceNumber]);
    expect(await drainQueue(sqs, failureQueueUrl)).toEqual([]);
    // The mapping resumes at the failed record: the poison is set aside now, the tick after it is not applied twice.
    const again = await makeHandler()({ Records: mixed.Records.slice(1) });
    expect(again.batchItemFailures).toEqual([]);
    expect((await drainQueue(sqs, failureQueueUrl)).map((m) => JSON.parse(m.Body as string).sequenceNumber)).toEqual([
      bad.kinesis.sequenceNumber,
    ]);
    expect(((await loadState('PSN2')) as StoredStrategyState).state).toEqual({ prices: [10, 12], relation: null });
  });

  it('resends a poison message the failure queue refused, within the invocation: reported nowhere, set aside once', async () => {
    await drainQueue(sqs, failureQueueUrl);
    const event = await streamTicks('PSN3', [10, 9]);
    const bad = { ...event.Records[1]!, kinesis: { ...event.Records[1]!.kinesis, data: 'bm90IGpzb24=' } };
    // SQS refuses single entries of a batch (Failed, not a thrown call) and no emulator does on demand: the first
    // send of the poison message (a standard queue's entry: no group id) is refused once, the resend goes through.
    const refusing = createSqsClient();
    let refused = 0;
    const heal = refuseBatchEntries(refusing, (entry) => entry.MessageGroupId === undefined && refused++ === 0);
    const out = await makeHandler({ sqs: refusing })({ Records: [event.Records[0]!, bad] });
    heal();
    refusing.destroy();
    expect(refused).toBe(2);
    expect(out.batchItemFailures).toEqual([]);
    expect((await drainQueue(sqs, failureQueueUrl)).map((m) => JSON.parse(m.Body as string).sequenceNumber)).toEqual([
      bad.kinesis.sequenceNumber,
    ]);
  });
});

describe('process: config', () => {
  const base = {
    ...powertoolsEnv('process'),
    STRATEGY_TABLE_NAME: 't',
    COMMANDS_QUEUE_URL: 'http://localhost:1/q.fifo',
    FAILURE_QUEUE_URL: 'http://localhost:1/failures',
    STRATEGY_FAST_WINDOW: '2',
    STRATEGY_SLOW_WINDOW: '4',
    STRATEGY_ORDER_QUANTITY: '5',
    TRADING_ACCOUNT: 'acct-1',
  };
  it('fails at init naming the bad variable', () => {
    const { COMMANDS_QUEUE_URL: _omit, ...missing } = base;
    expect(() => loadProcessConfig(missing)).toThrow(/COMMANDS_QUEUE_URL is not set/);
    expect(() => loadProcessConfig({ ...base, STRATEGY_FAST_WINDOW: '9' })).toThrow(
      /STRATEGY_FAST_WINDOW must be smaller/,
    );
    expect(() => loadProcessConfig({ ...base, STRATEGY_NAME: 'martingale' })).toThrow(/STRATEGY_NAME: must be one of/);
    expect(() => loadProcessConfig({ ...base, TRADING_ACCOUNT: 'has space' })).toThrow(/TRADING_ACCOUNT/);
  });
});
