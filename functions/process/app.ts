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
import { sendCommands, trySendCommands } from '../../shared/aws/command-sender';
import type { ProcessConfig } from './config';
import { decodeRecord, KinesisEventSchema } from '../../shared/aws/kinesis-records';
import { setAsidePoison, type PoisonRecord } from '../../shared/aws/poison-records';
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

/** One symbol's work in a batch: the states still to write (in order) and what they were folded from. */
interface SymbolPlan {
  symbol: string;
  ticks: SymbolTick[];
  /** The stored state the next write is conditional on (its lastSequenceNumber; undefined: none stored). */
  current: StoredStrategyState | undefined;
  writes: StoredStrategyState[];
  duplicates: number;
  processed: number;
  /** Reads of the state so far (a stale state is re-read up to MAX_STATE_ATTEMPTS). */
  attempts: number;
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
 *
 * Cost: the symbols of a batch are written together (one TransactWriteItems of their conditional puts) and their
 * commands sent together (SendMessageBatch, ten to a call whatever the group), not a write and a send per symbol:
 * at a few ticks per symbol per batch those per-symbol calls were most of the CPU per order (docs/performance.md).
 * The transaction changes no guarantee: each symbol's put keeps its own condition, a cancelled transaction writes
 * nothing, and a stale symbol is re-read while the others are written again.
 */
// Over ~80 lines on purpose: a factory closure over its dependencies (the per-symbol state cache and the steps
// that read, advance and send it); each inner function is short and one job, and moving them to module level would
// only thread `deps` through each.
export function createProcessHandler(deps: ProcessDeps) {
  const { config, strategy, states, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, StoredStrategyState | undefined>();

  /** Logs one INFO line per send (the per-order line at DEBUG: a line per order costs an IPC message and a log write). */
  function logSent(commands: readonly OrderCommand[]): void {
    if (commands.length === 0) return;
    logger.info('order commands sent', {
      symbols: [...new Set(commands.map((c) => c.order.symbol))],
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
      await sendCommands(deps.sqs, config.COMMANDS_QUEUE_URL, stored.outbox);
      logSent(stored.outbox);
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

  /**
   * Folds the ticks after `base`'s position into the state (no I/O): the states to write, in order, each with the
   * commands it produced as its outbox — a new one every MAX_OUTBOX_COMMANDS commands.
   */
  function plan(symbol: string, base: StoredStrategyState | undefined, ticks: SymbolTick[]): SymbolPlan {
    const fresh = base
      ? ticks.filter((t) => compareSequenceNumbers(t.sequenceNumber, base.lastSequenceNumber) > 0)
      : ticks;
    if (fresh.length < ticks.length) {
      metrics.addMetric(MetricName.TicksSkippedAsApplied, MetricUnit.Count, ticks.length - fresh.length);
    }
    let state = restoreState(symbol, base);
    const recent = new RecentTickIds(base?.recentTickIds ?? []);
    const writes: StoredStrategyState[] = [];
    let commands: OrderCommand[] = [];
    let duplicates = 0;
    let lastPrice = base?.lastPrice;
    for (const [i, { sequenceNumber, shardId, tickRecord }] of fresh.entries()) {
      const { tick } = tickRecord;
      lastPrice = tick.price;
      if (recent.has(tick.tickId)) duplicates++;
      else {
        recent.add(tick.tickId);
        const step = strategy.onTick(state, tick);
        state = step.state;
        commands.push(...step.orders.map((intent, index) => toCommand(symbol, tickRecord, intent, index)));
      }
      if (commands.length < MAX_OUTBOX_COMMANDS && i < fresh.length - 1) continue;
      writes.push({
        symbol,
        strategy: strategy.name,
        state,
        lastSequenceNumber: sequenceNumber,
        lastShardId: shardId,
        recentTickIds: recent.toArray(),
        outbox: commands,
        ...(lastPrice === undefined ? {} : { lastPrice }),
        updatedAt: now(),
      });
      commands = [];
    }
    return { symbol, ticks, current: base, writes, duplicates, processed: fresh.length - duplicates, attempts: 1 };
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

  /** Plans a symbol from its cached state, or from the table's (resending its outbox) when none is cached. */
  async function planFromStore(symbol: string, ticks: SymbolTick[], attempts: number): Promise<SymbolPlan> {
    const base = cache.has(symbol) ? cache.get(symbol) : await readState(symbol);
    return { ...plan(symbol, base, ticks), attempts };
  }

  /**
   * Writes the plans' states and sends their commands, all symbols at once, round by round (a symbol's next state
   * only after its previous one's commands were sent): one TransactWriteItems and one SendMessageBatch per ten
   * commands for the whole batch, instead of a PutItem and a SendMessageBatch per symbol. A symbol whose state
   * proved stale is re-read and re-planned; the others of its cancelled transaction are written again. Calls
   * `fail` for each symbol that cannot go on (the rest go on); a failure drops the symbol's cached state.
   */
  async function writeAndSend(plans: SymbolPlan[], fail: (p: SymbolPlan, error: unknown) => void): Promise<void> {
    let pending = plans.filter((p) => p.writes.length > 0);
    while (pending.length > 0) {
      let outcome: { stale: Set<string>; unwritten: Set<string> };
      try {
        const writes = pending.map((p) => ({
          next: p.writes[0]!,
          expectedSequenceNumber: p.current?.lastSequenceNumber,
        }));
        outcome = await states.saveAll(writes);
      } catch (error) {
        for (const p of pending) fail(p, error);
        return;
      }
      const written = pending.filter((p) => !outcome.stale.has(p.symbol) && !outcome.unwritten.has(p.symbol));
      const again = [...pending.filter((p) => outcome.unwritten.has(p.symbol)), ...(await sendWritten(written, fail))];
      for (const p of pending.filter((p) => outcome.stale.has(p.symbol))) {
        cache.delete(p.symbol);
        if (p.attempts >= MAX_STATE_ATTEMPTS) fail(p, new StaleStateError(p.symbol));
        else {
          try {
            again.push(await planFromStore(p.symbol, p.ticks, p.attempts + 1));
          } catch (error) {
            fail(p, error);
          }
        }
      }
      pending = again.filter((p) => p.writes.length > 0);
    }
  }

  /** Sends the commands of the states just written; returns the plans advanced past them (the failed ones fail). */
  async function sendWritten(written: SymbolPlan[], fail: (p: SymbolPlan, e: unknown) => void): Promise<SymbolPlan[]> {
    const commands = written.flatMap((p) => p.writes[0]!.outbox);
    let refused: Map<string, string>;
    try {
      const failed = await trySendCommands(deps.sqs, config.COMMANDS_QUEUE_URL, commands);
      refused = new Map(failed.map((f) => [f.command.order.symbol, f.reason]));
    } catch (error) {
      for (const p of written) fail(p, error);
      return [];
    }
    logSent(commands.filter((c) => !refused.has(c.order.symbol)));
    const advanced: SymbolPlan[] = [];
    for (const p of written) {
      const reason = refused.get(p.symbol);
      // Its state is written with the commands in the outbox: the redelivery reads it and resends them.
      if (reason !== undefined) fail(p, new Error(`commands of ${p.symbol} not sent: ${reason}`));
      else advanced.push(advance(p));
    }
    return advanced;
  }

  /** A plan whose first state is written and sent: cached, counted, and the plan goes on from it. */
  function advance(p: SymbolPlan): SymbolPlan {
    const [done, ...rest] = p.writes;
    cache.set(p.symbol, done);
    const sent = done!.outbox.length;
    if (sent > 0) metrics.addMetric(MetricName.OrdersGenerated, MetricUnit.Count, sent);
    if (rest.length === 0) {
      if (p.duplicates > 0) metrics.addMetric(MetricName.DuplicateTicksSkipped, MetricUnit.Count, p.duplicates);
      metrics.addMetric(MetricName.TicksProcessed, MetricUnit.Count, p.processed);
    }
    return { ...p, current: done, writes: rest };
  }

  return middy(async (event: unknown, _context: Context): Promise<KinesisStreamBatchResponse> => {
    const envelope = KinesisEventSchema.safeParse(event);
    if (!envelope.success) throw new Error('process expects a Kinesis stream event with a Records array');
    const failedSequenceNumbers = new Set<string>();
    const bySymbol = new Map<string, SymbolTick[]>();
    const poison: PoisonRecord[] = [];

    for (const raw of envelope.data.Records) {
      const decoded = decodeRecord(raw);
      if (!decoded.ok) {
        metrics.addMetric(MetricName.PoisonRecords, MetricUnit.Count, 1);
        logger.error('poison record', { sequenceNumber: decoded.sequenceNumber, reason: decoded.reason });
        if (decoded.sequenceNumber === undefined) {
          // Without a sequence number it cannot be reported alone, nor set aside by it: failing the invocation
          // retries the batch. Lambda gives every record one; this guards a malformed event, not the stream.
          throw new Error(`poison record without a sequence number: ${decoded.reason}`);
        }
        poison.push({ sequenceNumber: decoded.sequenceNumber, reason: decoded.reason, raw });
        continue;
      }
      const symbol = decoded.tickRecord.tick.symbol;
      const list = bySymbol.get(symbol) ?? [];
      list.push(decoded);
      bySymbol.set(symbol, list);
    }

    // Poison goes to the failure queue now, with its reason, and is not retried: it can never become a tick, and
    // retrying it would hold the shard. So a batch fails only on what a retry can fix, and the mapping retries that
    // until the record age limit (infra/config.ts, kinesisRetryAttempts) rather than giving up on good ticks.
    for (const { sequenceNumber, reason } of await setAsidePoison(
      deps.sqs,
      config.FAILURE_QUEUE_URL,
      'process',
      poison,
    )) {
      logger.error('poison record not set aside; it will be redelivered', { sequenceNumber, reason });
      failedSequenceNumbers.add(sequenceNumber);
    }

    const fail = ({ symbol, ticks }: { symbol: string; ticks: SymbolTick[] }, error: unknown) => {
      // Whatever failed, the table may now differ from the cached copy: the next batch reads it again.
      cache.delete(symbol);
      logger.error('could not apply ticks; they will be redelivered', { symbol, error: error as Error });
      for (const t of ticks) failedSequenceNumbers.add(t.sequenceNumber);
    };
    // Symbols are independent: their states are read concurrently (when not cached) and written and sent together;
    // within a symbol, strictly in stream order.
    const plans = await Promise.all(
      [...bySymbol].map(async ([symbol, ticks]) => {
        try {
          return await planFromStore(symbol, ticks, 1);
        } catch (error) {
          fail({ symbol, ticks }, error);
          return undefined;
        }
      }),
    );
    await writeAndSend(
      plans.filter((p) => p !== undefined),
      fail,
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
