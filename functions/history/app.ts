import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { OrderHistoryStore, WriteOutcome } from '../../shared/aws/order-history';
import { byGroup } from '../../shared/domain/execution';
import { HistoryEventSchema, historyItem, type HistoryItem } from '../../shared/domain/order-history';
import { describeZodError } from '../../shared/domain/order';
import { MetricName, MetricUnit } from '../../shared/powertools';

export interface HistoryDeps {
  retentionDays: number;
  store: Pick<OrderHistoryStore, 'write' | 'writeAll'>;
  logger: Logger;
  metrics: Metrics;
}

/** Why a message can never be written: no retry changes it, so it goes to the DLQ by redrive with this logged. */
class Unwritable extends Error {}

function parse(record: SQSRecord) {
  let json: unknown;
  try {
    json = JSON.parse(record.body);
  } catch (error) {
    throw new Unwritable(`body is not JSON: ${(error as Error).message}`);
  }
  const event = HistoryEventSchema.safeParse(json);
  if (!event.success) throw new Unwritable(`not an order event: ${describeZodError(event.error)}`);
  return event.data;
}

/** An event ready to write, with the message it came in. */
type Writable = { record: SQSRecord; item: HistoryItem };

/**
 * The history writer: the events topic's history subscription (SQS FIFO, raw delivery) → OrderHistoryTable by
 * conditional puts (OrderHistoryStore): a redelivered or out-of-order event changes nothing, so the writer needs no
 * claim or dedup table of its own. Cost: the whole batch is written by one TransactWriteItems (writeAll; a second
 * only when it mixes new and recorded events) instead of a PutItem per event — see docs/architecture.md for why a
 * transaction and not BatchWriteItem. A group's events are kept in order; a failure fails that message and the
 * rest of its group (as Powertools' SqsFifoPartialProcessor with skipGroupOnError would; not used because it would
 * be the only Powertools batch dependency for ten lines). An unparseable message is reported failed too, and its
 * reason logged: after maxReceiveCount it sits in the HistoryDlq to be looked at, instead of being dropped.
 */
export function createHistoryHandler(deps: HistoryDeps) {
  const { logger, metrics } = deps;

  const count = (outcome: WriteOutcome) =>
    metrics.addMetric(
      outcome === 'written' ? MetricName.HistoryWritten : MetricName.HistoryUnchanged,
      MetricUnit.Count,
      1,
    );
  const logFailure = (record: SQSRecord, error: unknown) => {
    const poison = error instanceof Unwritable;
    logger.error(poison ? 'event cannot be written to the history' : 'history write failed; will be retried', {
      messageId: record.messageId,
      group: record.attributes.MessageGroupId,
      error: error as Error,
    });
  };

  /** A group's events up to its first unwritable one; that one and the rest of the group fail. */
  function parseGroup(records: SQSRecord[]): { writable: Writable[]; failed: SQSRecord[] } {
    const writable: Writable[] = [];
    for (const [i, record] of records.entries()) {
      try {
        const item = historyItem(parse(record), deps.retentionDays);
        if (!item) throw new Unwritable('the event names no account (recorded before events carried one)');
        writable.push({ record, item });
      } catch (error) {
        logFailure(record, error);
        return { writable, failed: records.slice(i) };
      }
    }
    return { writable, failed: [] };
  }

  /**
   * After the batch call failed: one put per event, group by group, as the writer did before batching. A failed
   * call does not say whose event caused it, so this keeps the fault to its own group (the others are written);
   * it costs more calls only when a call failed. Returns the failed message and the rest of its group.
   */
  async function writeOneByOne(group: Writable[]): Promise<SQSRecord[]> {
    for (const [i, { record, item }] of group.entries()) {
      try {
        count(await deps.store.write(item));
      } catch (error) {
        logFailure(record, error);
        return group.slice(i).map((w) => w.record);
      }
    }
    return [];
  }

  async function writeBatch(records: SQSRecord[]): Promise<SQSBatchResponse> {
    const groups = [...byGroup(records, (r) => r.attributes.MessageGroupId ?? '').values()].map(parseGroup);
    const failed = new Set(groups.flatMap((g) => g.failed));
    const writable = groups.flatMap((g) => g.writable);
    try {
      if (writable.length > 0) (await deps.store.writeAll(writable.map((w) => w.item))).forEach(count);
    } catch (error) {
      logger.warn('history batch write failed; writing its events one by one', { error: error as Error });
      for (const r of (await Promise.all(groups.map((g) => writeOneByOne(g.writable)))).flat()) failed.add(r);
    }
    return { batchItemFailures: records.filter((r) => failed.has(r)).map((r) => ({ itemIdentifier: r.messageId })) };
  }

  return middy((event: SQSEvent, _context: Context): Promise<SQSBatchResponse> => writeBatch(event.Records))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
