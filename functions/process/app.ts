import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, KinesisStreamBatchResponse } from 'aws-lambda';
import type { OrderCommand } from '../../shared/domain/command';
import { compareSequenceNumbers, deriveOrderId } from '../../shared/domain/order-id';
import { RecentTickIds } from '../../shared/domain/recent-tick-ids';
import type { OrderIntent, Strategy } from '../../shared/domain/strategy';
import type { TickRecord } from '../../shared/domain/tick';
import { MetricName, MetricUnit } from '../../shared/powertools';
import { sendCommands } from './command-sender';
import type { ProcessConfig } from './config';
import { decodeRecord, KinesisEventSchema } from '../../shared/aws/kinesis-records';
import { StaleStateError, type StoredStrategyState, type StrategyStateStore } from './state-store';

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

/** Re-reads after losing the optimistic lock to another container; more than this means something is wrong. */
const MAX_STATE_ATTEMPTS = 3;
/** At most this many commands per state write, so the outbox keeps the item far below DynamoDB's 400 KB. */
const MAX_OUTBOX_COMMANDS = 100;

/**
 * Kinesis batch → per-symbol strategy → order commands, with ReportBatchItemFailures.
 *
 * Written by hand rather than with Powertools' BatchProcessor because the unit of work is a symbol, not a
 * record: all of a symbol's ticks in the batch are folded in stream order and written with one conditional
 * write, and a symbol whose work fails fails all its records. Lambda resumes a shard from the lowest reported
 * sequence number, so everything after a failure is redelivered; records already applied are then recognised
 * by the state's last sequence number and skipped, and a tick ingested twice by its tickId (RecentTickIds).
 *
 * State lives in the warm container (`cache`, one per handler, i.e. per container): a batch starts from the
 * cached state without reading the table, and the conditional write (stored lastSequenceNumber = the one we
 * started from) is the durable check. When it fails — another container advanced the symbol — the entry is
 * dropped, the state re-read and the batch re-run from it.
 *
 * Order of effects per symbol: the state is written (with its commands as an outbox) BEFORE the commands are
 * sent, because a cached state may be stale and nothing computed from it may leave the container until the
 * conditional write has confirmed it. A crash after the write leaves the commands in the outbox; every read
 * of the item resends them (same orderIds, deduplicated by SQS FIFO and execute).
 */
// Over ~80 lines on purpose: a factory closure over its dependencies (the per-symbol state cache and the steps
// that read, advance and send it); each inner function is short and one job, and moving them to module level would
// only thread `deps` through each.
export function createProcessHandler(deps: ProcessDeps) {
  const { config, strategy, states, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, StoredStrategyState | undefined>();

  async function send(commands: readonly OrderCommand[]): Promise<void> {
    await sendCommands(deps.sqs, config.COMMANDS_QUEUE_URL, commands);
    // One INFO line per send (a batch of one symbol's commands), the per-order line at DEBUG: a line per order
    // costs a worker IPC message and a log write each (docs/performance.md).
    if (commands.length === 0) return;
    logger.info('order commands sent', {
      symbol: commands[0]!.order.symbol,
      commands: commands.length,
      orderIds: commands.map((c) => c.order.orderId),
    });
    for (const command of commands) {
      logger.debug('order command sent', {
        correlationId: command.correlationId,
        orderId: command.order.orderId,
        side: command.order.side,
      });
    }
  }

  /** Reads the stored state and resends its outbox: its writer may have died between the write and the send. */
  async function readState(symbol: string): Promise<StoredStrategyState | undefined> {
    const stored = await states.load(symbol);
    if (stored && stored.outbox.length > 0) {
      await send(stored.outbox);
      metrics.addMetric(MetricName.OutboxResent, MetricUnit.Count, stored.outbox.length);
    }
    return stored;
  }

  function restoreState(symbol: string, stored: StoredStrategyState | undefined): unknown {
    if (!stored) return strategy.initialState();
    const restored = stored.strategy === strategy.name ? strategy.stateSchema.safeParse(stored.state) : undefined;
    if (restored?.success) return restored.data;
    logger.warn('stored strategy state is not this strategy’s; starting it afresh', {
      symbol,
      storedStrategy: stored.strategy,
    });
    return strategy.initialState();
  }

  /** Folds the ticks after `base`'s position into the state, writing (then sending) every MAX_OUTBOX_COMMANDS. */
  async function advance(symbol: string, base: StoredStrategyState | undefined, ticks: SymbolTick[]): Promise<void> {
    const fresh = base
      ? ticks.filter((t) => compareSequenceNumbers(t.sequenceNumber, base.lastSequenceNumber) > 0)
      : ticks;
    if (fresh.length < ticks.length) {
      metrics.addMetric(MetricName.TicksSkippedAsApplied, MetricUnit.Count, ticks.length - fresh.length);
    }
    let current = base;
    let state = restoreState(symbol, base);
    const recent = new RecentTickIds(base?.recentTickIds ?? []);
    let commands: OrderCommand[] = [];
    let duplicates = 0;
    for (const [i, { sequenceNumber, shardId, tickRecord }] of fresh.entries()) {
      const { tick } = tickRecord;
      if (recent.has(tick.tickId)) duplicates++;
      else {
        recent.add(tick.tickId);
        const step = strategy.onTick(state, tick);
        state = step.state;
        commands.push(...step.orders.map((intent, index) => toCommand(symbol, tickRecord, intent, index)));
      }
      if (commands.length < MAX_OUTBOX_COMMANDS && i < fresh.length - 1) continue;
      const next: StoredStrategyState = {
        symbol,
        strategy: strategy.name,
        state,
        lastSequenceNumber: sequenceNumber,
        lastShardId: shardId,
        recentTickIds: recent.toArray(),
        outbox: commands,
        updatedAt: now(),
      };
      await states.save(next, current?.lastSequenceNumber);
      await send(commands);
      cache.set(symbol, next);
      current = next;
      if (commands.length > 0) metrics.addMetric(MetricName.OrdersGenerated, MetricUnit.Count, commands.length);
      commands = [];
    }
    if (duplicates > 0) metrics.addMetric(MetricName.DuplicateTicksSkipped, MetricUnit.Count, duplicates);
    metrics.addMetric(MetricName.TicksProcessed, MetricUnit.Count, fresh.length - duplicates);
  }

  function toCommand(symbol: string, record: TickRecord, intent: OrderIntent, index: number): OrderCommand {
    return {
      order: {
        orderId: deriveOrderId(symbol, record.tick.tickId, index),
        account: config.TRADING_ACCOUNT,
        symbol,
        side: intent.side,
        quantity: intent.quantity,
        price: intent.price,
      },
      tickTs: record.tick.ts,
      commandTs: now(),
      correlationId: record.correlationId,
    };
  }

  async function applySymbol(symbol: string, ticks: SymbolTick[]): Promise<void> {
    let base = cache.has(symbol) ? cache.get(symbol) : await readState(symbol);
    for (let attempt = 1; ; attempt++) {
      try {
        await advance(symbol, base, ticks);
        return;
      } catch (error) {
        // Whatever failed, the table may now differ from the cached copy: the next batch reads it again.
        cache.delete(symbol);
        if (!(error instanceof StaleStateError) || attempt >= MAX_STATE_ATTEMPTS) throw error;
        base = await readState(symbol);
      }
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
