import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { putRecords, type PutOutcome, type RetryPolicy } from '../../shared/aws/put-records';
import { initialFeedState, takeTicks, type MarketFeedConfig } from '../../shared/domain/market-feed';
import { parseTickBatch, type StreamTick, type TickRecord } from '../../shared/domain/tick';
import { MetricName, MetricUnit } from '../../shared/powertools';
import type { IngestConfig } from './config';
import type { HttpEvent } from '../../shared/aws/http-event';
import type { IngestAccepted, IngestPartial } from '../../shared/api/schemas';
import { classifyIngestEvent, type FeedTrigger } from './events';
import { sleep as defaultSleep } from '../../shared/util/wait';

export interface IngestDeps {
  config: IngestConfig;
  kinesis: KinesisClient;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  retry?: RetryPolicy;
}

export interface FeedRunSummary {
  ticksSent: number;
  ticksNotLanded: number;
  seconds: number;
}

/** Time left for the last PutRecords (with its retries) after the feed stops. */
const FEED_END_MARGIN_MS = 10_000;
/** The feed writes its ticks in this many slices per second (see runFeed). */
const FEED_SLICES_PER_SECOND = 10;

const json = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

// Over ~80 lines on purpose: a factory closure over its dependencies (the HTTP route, the market feed and the tick
// writer they share); each inner function is short and one job, and moving them to module level would only thread
// `deps` through each.
export function createIngestHandler(deps: IngestDeps) {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;

  /** Writes ticks to the stream, symbol as partition key, each with its correlation id inside the record. */
  async function writeTicks(ticks: { tick: StreamTick; correlationId: string }[]): Promise<PutOutcome[]> {
    const ingestedAt = now();
    const outcomes = await putRecords(
      {
        kinesis: deps.kinesis,
        streamName: config.TICKS_STREAM_NAME,
        retry: deps.retry,
        sleep,
        onRetry: (records, attempt) => {
          metrics.addMetric(MetricName.PutRecordsRetries, MetricUnit.Count, records);
          logger.warn('retrying ticks PutRecords did not take', { records, attempt });
        },
      },
      ticks.map(({ tick, correlationId }) => {
        const record: TickRecord = { tick, correlationId, ingestedAt };
        return { partitionKey: tick.symbol, data: Buffer.from(JSON.stringify(record)) };
      }),
    );
    const landed = outcomes.filter((o) => o.landed).length;
    metrics.addMetric(MetricName.TicksIngested, MetricUnit.Count, landed);
    if (landed < outcomes.length) {
      metrics.addMetric(MetricName.TicksNotLanded, MetricUnit.Count, outcomes.length - landed);
    }
    return outcomes;
  }

  async function handleHttp(event: HttpEvent): Promise<APIGatewayProxyStructuredResultV2> {
    const { method, path } = event.requestContext.http;
    if (method !== 'POST' || !path.endsWith('/ticks')) return json(404, { message: `no route for ${method} ${path}` });
    if (event.body === undefined || event.body === '') return json(400, { message: 'the request has no body' });
    const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      return json(400, { message: `the body is not JSON: ${(error as Error).message}` });
    }
    const parsed = parseTickBatch(body);
    if (!parsed.ok) return json(400, { message: parsed.reason });
    if (parsed.rejected.length > 0) {
      metrics.addMetric(MetricName.TicksRejected, MetricUnit.Count, parsed.rejected.length);
      logger.warn('rejected invalid ticks', { rejected: parsed.rejected });
    }
    if (parsed.valid.length === 0) {
      return json(400, { message: 'no valid tick in the request', rejected: parsed.rejected });
    }
    // Every tick travels with a tickId: its identity for deduplication downstream. A client that retries must
    // send its own (the same on every attempt); one that sends none gets a fresh id, so its retries are new ticks.
    const withIds = parsed.valid.map(({ index, tick }) => {
      const tickId = tick.tickId ?? randomUUID();
      return { index, tick: { ...tick, tickId }, correlationId: tickId };
    });
    const outcomes = await writeTicks(withIds);
    const accepted = [];
    const failed = [];
    for (const [i, outcome] of outcomes.entries()) {
      const { index, correlationId, tick } = withIds[i] as (typeof withIds)[number];
      const { tickId } = tick;
      if (outcome.landed) {
        accepted.push({
          index,
          tickId,
          correlationId,
          shardId: outcome.shardId,
          sequenceNumber: outcome.sequenceNumber,
        });
      } else {
        failed.push({ index, tickId, correlationId, reason: outcome.reason });
      }
    }
    logger.info('ticks ingested', {
      accepted: accepted.length,
      rejected: parsed.rejected.length,
      failed: failed.length,
    });
    if (failed.length > 0) {
      // Some valid ticks did not land: say exactly which, so the client retries only those.
      logger.error('ticks did not land in the stream', { failed });
      return json(503, {
        message: 'some ticks could not be written; retry them',
        accepted,
        rejected: parsed.rejected,
        failed,
      } satisfies IngestPartial);
    }
    return json(202, { accepted, rejected: parsed.rejected } satisfies IngestAccepted);
  }

  async function runFeed(trigger: FeedTrigger, context: Context): Promise<FeedRunSummary> {
    const startTs = trigger.scheduledTime ? Date.parse(trigger.scheduledTime) : now();
    const seconds =
      config.FEED_DURATION_SECONDS ??
      Math.max(1, Math.floor((context.getRemainingTimeInMillis() - FEED_END_MARGIN_MS) / 1000));
    const feed: MarketFeedConfig = {
      symbols: config.FEED_SYMBOLS,
      seed: `${config.FEED_SEED}@${startTs}`,
      ticksPerSecond: config.FEED_TICKS_PER_SECOND,
      startTs,
    };
    let state = initialFeedState(feed);
    let ticksSent = 0;
    let ticksNotLanded = 0;
    // Ticks are written in slices of a tenth of a second, each once its last tick's timestamp has come, so no
    // tick reaches the stream stamped in the future (tick→event latency stays honest) and the rate is paced by
    // the ticks' own clock.
    const slices = seconds * FEED_SLICES_PER_SECOND;
    for (let slice = 0; slice < slices; slice++) {
      const count =
        Math.floor(((slice + 1) * config.FEED_TICKS_PER_SECOND) / FEED_SLICES_PER_SECOND) -
        Math.floor((slice * config.FEED_TICKS_PER_SECOND) / FEED_SLICES_PER_SECOND);
      if (count === 0) continue;
      const next = takeTicks(feed, state, count);
      state = next.state;
      const due = Math.max(...next.ticks.map((t) => t.ts)) - now();
      if (due > 0) await sleep(due);
      const outcomes = await writeTicks(next.ticks.map((tick) => ({ tick, correlationId: tick.tickId })));
      const landed = outcomes.filter((o) => o.landed).length;
      ticksSent += landed;
      ticksNotLanded += outcomes.length - landed;
    }
    const summary = { ticksSent, ticksNotLanded, seconds };
    if (ticksNotLanded > 0) logger.error('market feed: some ticks did not land', summary);
    else logger.info('market feed finished', summary);
    return summary;
  }

  return middy(async (event: unknown, context: Context) => {
    const classified = classifyIngestEvent(event);
    return classified.type === 'http' ? handleHttp(classified.event) : runFeed(classified.trigger, context);
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
