import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse } from 'aws-lambda';
import type { OrderCommand } from '../../shared/domain/command';
import { compareSequenceNumbers, deriveOrderId } from '../../shared/domain/order-id';
import type { Strategy } from '../../shared/domain/strategy';
import type { TickRecord } from '../../shared/domain/tick';
import { MetricName, MetricUnit } from '../../shared/powertools';
import { sendCommands } from './command-sender';
import type { ProcessConfig } from './config';
import { decodeRecord, KinesisEventSchema } from './records';
import { StaleStateError, type StrategyStateStore } from './state-store';

export interface ProcessDeps {
  config: ProcessConfig;
  strategy: Strategy<unknown>;
  states: StrategyStateStore;
  sqs: SQSClient;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

interface SymbolTick {
  sequenceNumber: string;
  shardId: string;
  tickRecord: TickRecord;
}

/** Re-reads after losing the optimistic lock to a concurrent delivery; more than this means something is wrong. */
const MAX_STATE_ATTEMPTS = 3;

/**
 * Kinesis batch → per-symbol strategy → order commands, with ReportBatchItemFailures.
 *
 * Written by hand rather than with Powertools' BatchProcessor because the unit of work is a symbol, not a
 * record: all of a symbol's ticks in the batch are folded in stream order with one state read and one
 * conditional write, and a symbol whose work fails fails all its records. Lambda resumes a shard from the
 * lowest reported sequence number, so everything after a failure is redelivered; records already applied are
 * then recognised by the state's last sequence number and skipped, and the orders they produced carry the
 * same deterministic ids, which SQS FIFO and execute deduplicate.
 *
 * Order of effects per symbol: commands are sent BEFORE the state write. A crash in between leaves the old
 * state, so the redelivery recomputes the same orders with the same ids (deduplicated downstream); sending
 * after the write could lose them.
 */
export function createProcessHandler(deps: ProcessDeps) {
  const { config, strategy, states, logger, metrics } = deps;
  const now = deps.now ?? Date.now;

  async function applySymbol(symbol: string, ticks: SymbolTick[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const stored = await states.load(symbol);
      const restored =
        stored && stored.strategy === strategy.name ? strategy.stateSchema.safeParse(stored.state) : undefined;
      if (stored && !restored?.success) {
        logger.warn('stored strategy state is not this strategy’s; starting it afresh', {
          symbol,
          storedStrategy: stored.strategy,
        });
      }
      const fresh = stored
        ? ticks.filter((t) => compareSequenceNumbers(t.sequenceNumber, stored.lastSequenceNumber) > 0)
        : ticks;
      if (fresh.length < ticks.length) {
        metrics.addMetric(MetricName.TicksSkippedAsApplied, MetricUnit.Count, ticks.length - fresh.length);
      }
      const last = fresh.at(-1);
      if (!last) return;

      let state = restored?.success ? restored.data : strategy.initialState();
      const commands: OrderCommand[] = [];
      for (const { sequenceNumber, shardId, tickRecord } of fresh) {
        const step = strategy.onTick(state, tickRecord.tick);
        state = step.state;
        step.orders.forEach((intent, index) => {
          commands.push({
            order: {
              orderId: deriveOrderId(shardId, sequenceNumber, index),
              account: config.TRADING_ACCOUNT,
              symbol,
              side: intent.side,
              quantity: intent.quantity,
              price: intent.price,
            },
            tickTs: tickRecord.tick.ts,
            commandTs: now(),
            correlationId: tickRecord.correlationId,
          });
        });
      }
      // Safe to repeat: each command's dedup id is its deterministic orderId.
      await sendCommands(deps.sqs, config.COMMANDS_QUEUE_URL, commands);
      for (const command of commands) {
        logger.info('order command sent', {
          correlationId: command.correlationId,
          orderId: command.order.orderId,
          side: command.order.side,
          symbol,
        });
      }
      try {
        await states.save(
          {
            symbol,
            strategy: strategy.name,
            state,
            lastSequenceNumber: last.sequenceNumber,
            lastShardId: last.shardId,
            updatedAt: now(),
          },
          stored?.lastSequenceNumber,
        );
      } catch (error) {
        if (error instanceof StaleStateError && attempt < MAX_STATE_ATTEMPTS) continue;
        throw error;
      }
      metrics.addMetric(MetricName.TicksProcessed, MetricUnit.Count, fresh.length);
      if (commands.length > 0) metrics.addMetric(MetricName.OrdersGenerated, MetricUnit.Count, commands.length);
      return;
    }
  }

  return middy(async (event: unknown, _context: Context): Promise<KinesisStreamBatchResponse> => {
    const envelope = KinesisEventSchema.safeParse(event);
    if (!envelope.success) throw new Error('process expects a Kinesis stream event with a Records array');
    const failedSequenceNumbers = new Set<string>();
    const bySymbol = new Map<string, SymbolTick[]>();

    for (const raw of envelope.data.Records) {
      const decoded = decodeRecord(raw);
      if (!decoded.ok) {
        // Poison: reported as failed, so the mapping retries it and, after its retry limit, hands it to the
        // on-failure destination and moves on. It never blocks the shard beyond those retries.
        metrics.addMetric(MetricName.PoisonRecords, MetricUnit.Count, 1);
        logger.error('poison record', { sequenceNumber: decoded.sequenceNumber, reason: decoded.reason });
        if (decoded.sequenceNumber === undefined) {
          // Without a sequence number it cannot be reported alone; failing the invocation retries the batch.
          throw new Error(`poison record without a sequence number: ${decoded.reason}`);
        }
        failedSequenceNumbers.add(decoded.sequenceNumber);
        continue;
      }
      const symbol = decoded.tickRecord.tick.symbol;
      const list = bySymbol.get(symbol) ?? [];
      list.push(decoded);
      bySymbol.set(symbol, list);
    }

    // Symbols are independent, so they are worked on concurrently; within a symbol, strictly in stream order.
    await Promise.all(
      [...bySymbol].map(async ([symbol, ticks]) => {
        try {
          await applySymbol(symbol, ticks);
        } catch (error) {
          logger.error('could not apply ticks; they will be redelivered', { symbol, error: error as Error });
          for (const t of ticks) failedSequenceNumbers.add(t.sequenceNumber);
        }
      }),
    );

    return {
      batchItemFailures: [...failedSequenceNumbers]
        .sort(compareSequenceNumbers)
        .map((itemIdentifier) => ({ itemIdentifier })),
    };
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
