import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { LRUCache } from 'lru-cache';
import type { Context, KinesisStreamRecord, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { postToEach, type ConnectionPoster } from '../../shared/aws/connection-poster';
import type { DeliveryLog } from '../../shared/aws/delivery-log';
import type { CandleLookup, StoredCandle } from '../../shared/aws/market-data-store';
import type { ConnectionStore } from '../../shared/aws/ws-connections';
import type { FifoSendOutcome } from '../../shared/aws/fifo-batch';
import { byGroup } from '../../shared/util/chunks';
import { closesAtOrAfter, publicCandle } from '../../shared/domain/candle';
import {
  candleTopic,
  latestPerSymbol,
  orderStream,
  orderTopic,
  OrderUpdateSchema,
  parseAccountUpdates,
  priceTopic,
  touchedCandles,
  updateKey,
  type OrderUpdate,
  type TouchedCandle,
  type ServerMessage,
} from '../../shared/domain/live-delivery';
import { describeZodError } from '../../shared/domain/order';
import { decodeRecord } from '../../shared/aws/kinesis-records';
import type { StreamTick } from '../../shared/domain/tick';
import { sleep as defaultSleep } from '../../shared/util/wait';

/**
 * The account-updates queue (SQS FIFO, group = account): the order events, regrouped by account, so that one batch
 * per account is sequenced at a time. `forward` sends updates to it and returns those it refused
 * (shared/aws/account-updates.ts).
 */
export interface AccountUpdatesQueue {
  queueArn: string;
  forward(updates: readonly OrderUpdate[]): Promise<FifoSendOutcome['failed']>;
}

export interface WsNotifierDeps {
  connections: Pick<ConnectionStore, 'subscribers' | 'remove'>;
  log: Pick<DeliveryLog<OrderUpdate>, 'appendAll'>;
  accountUpdates: AccountUpdatesQueue;
  poster: ConnectionPoster;
  /** market-data's stored candles: what `candle.update` carries (the same records GET /candles reads). */
  candles: Pick<CandleLookup, 'read'>;
  concurrency: number;
  /**
   * How long a warm notifier reuses the subscriber list of a price or candle topic (0: looked up for every batch).
   * Order topics are always looked up.
   */
  marketSubscribersTtlMs?: number;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * market-data folds the same ticks into the stored candles concurrently with this notifier: a candle read before
 * it wrote this batch is re-read after 25, 50, 100, 200 ms (≈ 0.4 s at most) until it includes the batch's newest
 * tick, then what is stored goes out anyway (best effort; the next batch supersedes it).
 */
const CANDLE_READ_ATTEMPTS = 5;
const CANDLE_RETRY_MS = 25;
/** Price and candle topics whose subscribers a warm notifier remembers; past it the least recently used go. */
const MAX_CACHED_TOPICS = 10_000;

type Parsed = { record: SQSRecord; update: OrderUpdate };

/**
 * An order event from the order-events queue: the event itself (SNS raw message delivery) or an SNS envelope
 * around it (`Type: Notification`, `Message`); undefined, with the reason logged, for anything else.
 */
function parseOrderEvent(body: string): OrderUpdate | string {
  let value: unknown;
  try {
    value = JSON.parse(body);
    const envelope = value as { Type?: unknown; Message?: unknown };
    if (envelope.Type === 'Notification' && typeof envelope.Message === 'string') value = JSON.parse(envelope.Message);
  } catch {
    return 'body is not JSON';
  }
  const parsed = OrderUpdateSchema.safeParse(value);
  return parsed.success ? parsed.data : describeZodError(parsed.error);
}

/**
 * FIFO rule: once a record of a message group fails, every later record of that group must fail too (SQS must
 * redeliver them after it, in order). Returns the failed records' ids, in batch order.
 */
export function fifoFailures(records: readonly SQSRecord[], failed: ReadonlySet<string>): string[] {
  const blocked = new Set<string>();
  return records.flatMap((r) => {
    const group = r.attributes.MessageGroupId ?? '';
    if (failed.has(r.messageId)) blocked.add(group);
    return blocked.has(group) ? [r.messageId] : [];
  });
}

/**
 * The live-delivery notifier, three sources. Order events (SQS FIFO, subscribed to the order-events topic, group =
 * symbol) are forwarded to the account-updates queue (group = account). Its order updates (told apart by their
 * eventSourceARN) each get their seq in the account's stream of the delivery log (the same seq again on a
 * redelivery), then go to every connection subscribed to that account's orders — the account is the event's,
 * which the ledger decided, so a user only ever receives its own orders. Delivery is at least once: a post that
 * fails fails the record, SQS redelivers it, and the client drops what it has seen by seq. Ticks (Kinesis): the
 * latest price per symbol in the batch goes to that symbol's price subscribers; then the candles the batch touched,
 * as market-data stored them, go to the symbol's candle subscribers. A price or candle that cannot be posted is
 * dropped (the next one supersedes it).
 */
export function createWsNotifierHandler(deps: WsNotifierDeps) {
  // Longer than a screen as a whole: the inner functions share deps and the logger; each is short and one job.
  const { logger, connections } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const ttl = deps.marketSubscribersTtlMs ?? 0;
  /**
   * The subscribers of price and candle topics, remembered for `ttl`: the ticks path looked up two topics per symbol
   * for every batch (16 Queries for 8 symbols, ~100 a second at 600 ticks/s) for updates the next tick supersedes
   * anyway; a new subscriber's first price comes at most `ttl` later. lru-cache's fetch also makes one lookup of
   * concurrent misses. Order topics are never cached: their updates are numbered and delivered at least once.
   */
  const marketSubscribers =
    ttl > 0
      ? new LRUCache<string, string[]>({
          max: MAX_CACHED_TOPICS,
          ttl,
          fetchMethod: (topic) => connections.subscribers(topic),
        })
      : undefined;
  const subscribersOf = async (topic: string, market: boolean): Promise<string[]> =>
    market && marketSubscribers ? ((await marketSubscribers.fetch(topic)) ?? []) : connections.subscribers(topic);

  /**
   * Posts the messages for each topic's subscribers (`market`: price or candle topics, whose lists may be
   * remembered); removes the gone, and forgets the remembered lists they were in; returns the topics some post
   * failed for.
   */
  async function deliver(byTopic: Map<string, ServerMessage[]>, market = false): Promise<Set<string>> {
    const deliveries = new Map<string, ServerMessage[]>();
    const topicsOf = new Map<string, string[]>();
    const subscribers = await Promise.all([...byTopic.keys()].map((topic) => subscribersOf(topic, market)));
    [...byTopic].forEach(([topic, messages], i) => {
      for (const id of subscribers[i]!) {
        deliveries.set(id, [...(deliveries.get(id) ?? []), ...messages]);
        topicsOf.set(id, [...(topicsOf.get(id) ?? []), topic]);
      }
    });
    const { gone, failed } = await postToEach(deps.poster, deliveries, deps.concurrency);
    await Promise.all(gone.map((id) => connections.remove(id)));
    for (const topic of gone.flatMap((id) => topicsOf.get(id) ?? [])) marketSubscribers?.delete(topic);
    if (gone.length > 0) logger.info('removed gone connections', { count: gone.length });
    return new Set(failed.flatMap((id) => topicsOf.get(id) ?? []));
  }

  /**
   * The updates `parse` finds in each record (an order event is one, an account-updates message up to ten), each with
   * its record; a record without any is logged as `what` with its reason and acknowledged (no retry makes it one).
   */
  function parseAll(records: SQSRecord[], parse: (body: string) => OrderUpdate[] | string, what: string): Parsed[] {
    return records.flatMap((record) => {
      const updates = parse(record.body);
      if (typeof updates !== 'string') return updates.map((update) => ({ record, update }));
      logger.error(what, { messageId: record.messageId, reason: updates });
      return [];
    });
  }
  const parseEvents = (records: SQSRecord[]) =>
    parseAll(
      records,
      (body) => {
        const update = parseOrderEvent(body);
        return typeof update === 'string' ? update : [update];
      },
      'not an order event',
    );

  /**
   * Order events from the topic's subscription (group = symbol): forwarded to the account-updates queue (group =
   * account). The seqs are given there: the 8 symbol groups' batches of one account, sequenced here at once, raced
   * on the account's counter and lost most of their transactions to each other (docs/performance.md). Execute sends
   * its own orders' updates to that queue itself; the subscription leaves its events out (LIVE_FORWARDED_ATTRIBUTE),
   * so what comes here are the other publishers' (the orders function's CANCELED).
   */
  async function onOrderEvents(records: SQSRecord[]): Promise<SQSBatchResponse> {
    const parsed = parseEvents(records);
    const failed = new Set<string>();
    for (const { index, reason, senderFault } of await deps.accountUpdates.forward(parsed.map((p) => p.update))) {
      const { messageId } = parsed[index]!.record;
      // Refused for what it is (no resend makes it acceptable): logged with the reason and acknowledged, as poison.
      if (senderFault) logger.error('order update the account-updates queue refuses', { messageId, reason });
      else failed.add(messageId);
    }
    if (failed.size > 0)
      logger.error('order events not forwarded to the account-updates queue', { count: failed.size });
    return { batchItemFailures: fifoFailures(records, failed).map((itemIdentifier) => ({ itemIdentifier })) };
  }

  /** Order updates of the account-updates queue: their seqs in the account's stream, then to the subscribers. */
  async function onAccountUpdates(records: SQSRecord[]): Promise<SQSBatchResponse> {
    const parsed = parseAll(records, parseAccountUpdates, 'not an account-updates message');
    const failed = new Set<string>();
    const byAccount = byGroup(parsed, (p) => p.update.account);
    // Each account's updates get their seqs together (one transaction; the batch's order), accounts in parallel.
    // A failed append fails the account's records: redelivered, those appended keep their seqs.
    const byTopic = new Map<string, ServerMessage[]>();
    await Promise.all(
      [...byAccount].map(async ([account, items]) => {
        try {
          const appended = await deps.log.appendAll(
            orderStream(account),
            items.map(({ update }) => ({ key: updateKey(update), payload: update })),
          );
          const messages = items.map(({ update }, i): ServerMessage => ({
            type: 'order.update',
            seq: appended[i]!.seq,
            order: update,
          }));
          byTopic.set(orderTopic(account), messages);
        } catch (error) {
          logger.error('delivery log append failed', { account, updates: items.length, error: error as Error });
          for (const { record } of items) failed.add(record.messageId);
        }
      }),
    );
    // A post that failed fails the account's records: redelivered, they keep their seqs and are posted again.
    const failedTopics = await deliver(byTopic);
    for (const [account, items] of byAccount)
      if (failedTopics.has(orderTopic(account))) for (const { record } of items) failed.add(record.messageId);
    return { batchItemFailures: fifoFailures(records, failed).map((itemIdentifier) => ({ itemIdentifier })) };
  }

  /** The stored candles `touched` names, each re-read (bounded) until it includes the batch's newest tick. */
  async function currentCandles(touched: TouchedCandle[]): Promise<(StoredCandle & { symbol: string })[]> {
    const key = (c: { symbol: string; interval: string; start: number }) => `${c.symbol}#${c.interval}#${c.start}`;
    const found = new Map<string, StoredCandle & { symbol: string }>();
    let pending = touched;
    for (let attempt = 1; pending.length > 0; attempt++) {
      for (const candle of await deps.candles.read(pending.map((t) => t.ref))) found.set(key(candle), candle);
      pending = pending.filter((t) => {
        const candle = found.get(key(t.ref));
        return !candle || !closesAtOrAfter(candle, t.newest);
      });
      if (attempt >= CANDLE_READ_ATTEMPTS) break;
      if (pending.length > 0) await sleep(CANDLE_RETRY_MS * 2 ** (attempt - 1));
    }
    return [...found.values()];
  }

  /** candle.update for the symbols of the batch that have candle subscribers: 1m, 5m and 1h as stored now. */
  async function onCandles(ticks: StreamTick[]): Promise<void> {
    const symbols = [...new Set(ticks.map((t) => t.symbol))];
    const subscribed = await Promise.all(symbols.map((s) => subscribersOf(candleTopic(s), true)));
    const watched = new Set(symbols.filter((_, i) => subscribed[i]!.length > 0));
    if (watched.size === 0) return;
    const touched = touchedCandles(ticks.filter((t) => watched.has(t.symbol)));
    const byTopic = new Map<string, ServerMessage[]>();
    for (const { symbol, interval, ...candle } of await currentCandles(touched)) {
      const topic = candleTopic(symbol);
      const update: ServerMessage = { type: 'candle.update', symbol, interval, ...publicCandle(candle) };
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), update]);
    }
    const failed = await deliver(byTopic, true);
    if (failed.size > 0) logger.warn('candle updates not delivered (superseded by the next)', { topics: [...failed] });
  }

  async function onTicks(records: KinesisStreamRecord[]): Promise<void> {
    const ticks = records.flatMap((r) => {
      const decoded = decodeRecord(r);
      return decoded.ok ? [decoded.tickRecord.tick] : [];
    });
    const byTopic = new Map<string, ServerMessage[]>(
      latestPerSymbol(ticks).map(({ symbol, price, size, ts }) => [
        priceTopic(symbol),
        [{ type: 'price.update', symbol, price, size, ts }],
      ]),
    );
    const failed = await deliver(byTopic, true);
    if (failed.size > 0) logger.warn('price updates not delivered (superseded by the next)', { topics: [...failed] });
    // After the prices, which must not wait for market-data's write.
    await onCandles(ticks);
  }

  return middy(async (event: { Records: unknown[] }, _context: Context): Promise<SQSBatchResponse> => {
    const source = (event.Records[0] as { eventSource?: string } | undefined)?.eventSource;
    if (source === 'aws:sqs') {
      const records = event.Records as SQSRecord[];
      return records[0]!.eventSourceARN === deps.accountUpdates.queueArn
        ? onAccountUpdates(records)
        : onOrderEvents(records);
    }
    if (source === 'aws:kinesis') await onTicks(event.Records as KinesisStreamRecord[]);
    else if (source !== undefined) throw new Error(`ws-notifier does not consume ${source} events`);
    return { batchItemFailures: [] };
  }).use(injectLambdaContext(logger, { resetKeys: true }));
}
