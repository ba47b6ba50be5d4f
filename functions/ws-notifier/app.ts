import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, KinesisStreamRecord, SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { postToEach, type ConnectionPoster } from '../../shared/aws/connection-poster';
import type { DeliveryLog } from '../../shared/aws/delivery-log';
import type { ConnectionStore } from '../../shared/aws/ws-connections';
import { byGroup } from '../../shared/domain/execution';
import {
  latestPerSymbol,
  orderStream,
  orderTopic,
  OrderUpdateSchema,
  priceTopic,
  updateKey,
  type OrderUpdate,
  type ServerMessage,
} from '../../shared/domain/live-delivery';
import { describeZodError } from '../../shared/domain/order';
import { decodeRecord } from '../../shared/aws/kinesis-records';

export interface WsNotifierDeps {
  connections: Pick<ConnectionStore, 'subscribers' | 'remove'>;
  log: Pick<DeliveryLog<OrderUpdate>, 'append'>;
  poster: ConnectionPoster;
  concurrency: number;
  logger: Logger;
}

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
 * The live-delivery notifier. Order events (SQS FIFO, subscribed to the order-events topic): each gets its seq
 * in its account's stream of the delivery log (the same seq again on a redelivery), then goes to every connection
 * subscribed to that account's orders — the account is the event's, which the ledger decided, so a user only
 * ever receives its own orders. Delivery is at least once: a post that fails fails the record, SQS redelivers it,
 * and the client drops what it has seen by seq. Ticks (Kinesis): the latest price per symbol in the batch goes to
 * that symbol's price subscribers; a price that cannot be posted is dropped (the next one supersedes it).
 */
export function createWsNotifierHandler(deps: WsNotifierDeps) {
  // Longer than a screen as a whole: the inner functions share deps and the logger; each is short and one job.
  const { logger, connections } = deps;

  /** Posts the messages for each topic's subscribers; removes the gone; returns the topics some post failed for. */
  async function deliver(byTopic: Map<string, ServerMessage[]>): Promise<Set<string>> {
    const deliveries = new Map<string, ServerMessage[]>();
    const topicsOf = new Map<string, string[]>();
    const subscribers = await Promise.all([...byTopic.keys()].map((topic) => connections.subscribers(topic)));
    [...byTopic].forEach(([topic, messages], i) => {
      for (const id of subscribers[i]!) {
        deliveries.set(id, [...(deliveries.get(id) ?? []), ...messages]);
        topicsOf.set(id, [...(topicsOf.get(id) ?? []), topic]);
      }
    });
    const { gone, failed } = await postToEach(deps.poster, deliveries, deps.concurrency);
    await Promise.all(gone.map((id) => connections.remove(id)));
    if (gone.length > 0) logger.info('removed gone connections', { count: gone.length });
    return new Set(failed.flatMap((id) => topicsOf.get(id) ?? []));
  }

  async function onOrderEvents(records: SQSRecord[]): Promise<SQSBatchResponse> {
    const parsed: Parsed[] = [];
    for (const record of records) {
      const update = parseOrderEvent(record.body);
      // Not an order event: no retry makes it one. Logged with its reason and acknowledged, never delivered.
      if (typeof update === 'string')
        logger.error('not an order event', { messageId: record.messageId, reason: update });
      else parsed.push({ record, update });
    }
    const failed = new Set<string>();
    const byAccount = byGroup(parsed, (p) => p.update.account);
    // Appends per account one after another (its seqs follow the batch's order), accounts in parallel.
    const byTopic = new Map<string, ServerMessage[]>();
    await Promise.all(
      [...byAccount].map(async ([account, items]) => {
        const messages: ServerMessage[] = [];
        for (const { record, update } of items) {
          try {
            const { seq } = await deps.log.append(orderStream(account), updateKey(update), update);
            messages.push({ type: 'order.update', seq, order: update });
          } catch (error) {
            logger.error('delivery log append failed', { messageId: record.messageId, error: error as Error });
            failed.add(record.messageId);
            break;
          }
        }
        byTopic.set(orderTopic(account), messages);
      }),
    );
    // A post that failed fails the account's records: redelivered, they keep their seqs and are posted again.
    const failedTopics = await deliver(byTopic);
    for (const [account, items] of byAccount)
      if (failedTopics.has(orderTopic(account))) for (const { record } of items) failed.add(record.messageId);
    return { batchItemFailures: fifoFailures(records, failed).map((itemIdentifier) => ({ itemIdentifier })) };
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
    const failed = await deliver(byTopic);
    if (failed.size > 0) logger.warn('price updates not delivered (superseded by the next)', { topics: [...failed] });
  }

  return middy(async (event: { Records: unknown[] }, _context: Context): Promise<SQSBatchResponse> => {
    const source = (event.Records[0] as { eventSource?: string } | undefined)?.eventSource;
    if (source === 'aws:sqs') return onOrderEvents(event.Records as SQSRecord[]);
    if (source === 'aws:kinesis') await onTicks(event.Records as KinesisStreamRecord[]);
    else if (source !== undefined) throw new Error(`ws-notifier does not consume ${source} events`);
    return { batchItemFailures: [] };
  }).use(injectLambdaContext(logger, { resetKeys: true }));
}
