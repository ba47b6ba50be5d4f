import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse } from 'aws-lambda';
import { decodeRecord, KinesisEventSchema } from '../../shared/aws/kinesis-records';
import { SliceFullError, type MarketDataStore, type StorableTick } from '../../shared/aws/market-data-store';
import { compareSequenceNumbers } from '../../shared/domain/order-id';
import { MetricName, MetricUnit } from '../../shared/powertools';

export interface MarketDataDeps {
  store: Pick<MarketDataStore, 'record'>;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The second consumer of the tick stream: every tick stored, and folded into its 1m, 5m and 1h candles, exactly
 * once (MarketDataStore.record). Symbols are independent and written concurrently; a symbol whose write fails
 * reports all its records as failed, and Lambda redelivers from the lowest one — what was written already is
 * recognised then and not counted again.
 *
 * A poison record (not a tick record: ingest validates, so it should never be here) is logged with its sequence
 * number and skipped with a metric rather than failed: it can never become valid, and retrying it would hold
 * this consumer's shard (its mapping retries what fails until the record age limit). The record stays in the stream
 * for its retention, and the process function, which reads the same stream, sets it aside in its failure queue. Ticks
 * that would overfill a slice (SliceFullError) are skipped the same way, with the TicksNotStored metric.
 */
export function createMarketDataHandler(deps: MarketDataDeps) {
  const { store, logger, metrics } = deps;

  return middy(async (event: unknown, _context: Context): Promise<KinesisStreamBatchResponse> => {
    const envelope = KinesisEventSchema.safeParse(event);
    if (!envelope.success) throw new Error('market-data expects a Kinesis stream event with a Records array');
    const bySymbol = new Map<string, { sequenceNumbers: string[]; ticks: StorableTick[] }>();
    for (const raw of envelope.data.Records) {
      const decoded = decodeRecord(raw);
      if (!decoded.ok) {
        metrics.addMetric(MetricName.PoisonRecords, MetricUnit.Count, 1);
        logger.error('poison record skipped', { sequenceNumber: decoded.sequenceNumber, reason: decoded.reason });
        continue;
      }
      const { tick, ingestedAt } = decoded.tickRecord;
      const entry = bySymbol.get(tick.symbol) ?? { sequenceNumbers: [], ticks: [] };
      entry.sequenceNumbers.push(decoded.sequenceNumber);
      entry.ticks.push({ tickId: tick.tickId, ts: tick.ts, price: tick.price, size: tick.size, ingestedAt });
      bySymbol.set(tick.symbol, entry);
    }

    const failed: string[] = [];
    await Promise.all(
      [...bySymbol].map(async ([symbol, { sequenceNumbers, ticks }]) => {
        try {
          const outcome = await store.record(symbol, ticks);
          metrics.addMetric(MetricName.TicksStored, MetricUnit.Count, outcome.stored);
          if (outcome.duplicates > 0) {
            metrics.addMetric(MetricName.TicksAlreadyStored, MetricUnit.Count, outcome.duplicates);
          }
        } catch (error) {
          if (error instanceof SliceFullError) {
            // Deterministic: every retry would fail the same way and hold this consumer's shard until the record
            // age limit (the mapping retries what fails; infra/config.ts). Skipped, as poison is; orders unaffected.
            metrics.addMetric(MetricName.TicksNotStored, MetricUnit.Count, ticks.length);
            logger.error('ticks not stored: a slice is full; skipped', { symbol, error });
            return;
          }
          logger.error('could not store ticks; they will be redelivered', { symbol, error: error as Error });
          failed.push(...sequenceNumbers);
        }
      }),
    );
    return { batchItemFailures: failed.sort(compareSequenceNumbers).map((itemIdentifier) => ({ itemIdentifier })) };
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
