import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { OrderHistoryStore } from '../../shared/aws/order-history';
import { perFifoGroup } from '../../shared/domain/execution';
import { HistoryEventSchema, historyItem } from '../../shared/domain/order-history';
import { describeZodError } from '../../shared/domain/order';
import { MetricName, MetricUnit } from '../../shared/powertools';

export interface HistoryDeps {
  retentionDays: number;
  store: Pick<OrderHistoryStore, 'write'>;
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

/**
 * The history writer: the events topic's history subscription (SQS FIFO, raw delivery) → OrderHistoryTable, one
 * conditional put per event (OrderHistoryStore.write): a redelivered or out-of-order event changes nothing, so
 * the writer needs no claim or dedup table of its own. Groups run concurrently, a group's events in order; a
 * failure fails that message and the rest of its group (as Powertools' SqsFifoPartialProcessor with
 * skipGroupOnError would; not used because it would be the only Powertools batch dependency for ten lines).
 * An unparseable message is reported failed too, and its reason logged: after maxReceiveCount it sits in the
 * HistoryDlq to be looked at, instead of being dropped.
 */
export function createHistoryHandler(deps: HistoryDeps) {
  const { logger, metrics } = deps;

  async function writeGroup(records: SQSRecord[]): Promise<SQSRecord[]> {
    for (const [i, record] of records.entries()) {
      try {
        const item = historyItem(parse(record), deps.retentionDays);
        if (!item) throw new Unwritable('the event names no account (recorded before events carried one)');
        const outcome = await deps.store.write(item);
        metrics.addMetric(
          outcome === 'written' ? MetricName.HistoryWritten : MetricName.HistoryUnchanged,
          MetricUnit.Count,
          1,
        );
      } catch (error) {
        const poison = error instanceof Unwritable;
        logger.error(poison ? 'event cannot be written to the history' : 'history write failed; will be retried', {
          messageId: record.messageId,
          group: record.attributes.MessageGroupId,
          error: error as Error,
        });
        return records.slice(i);
      }
    }
    return [];
  }

  return middy((event: SQSEvent, _context: Context): Promise<SQSBatchResponse> =>
    perFifoGroup(event.Records, writeGroup),
  )
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
