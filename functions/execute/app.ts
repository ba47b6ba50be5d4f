import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { sendFifoBatch, type FifoMessage, type FifoSendOutcome } from '../../shared/aws/fifo-batch';
import { publishOrderEvents } from '../../shared/aws/order-events';
import type { OrderRecords, Recorded } from '../../shared/aws/order-records';
import type { OrderCommand } from '../../shared/domain/command';
import type { OrderEvent } from '../../shared/domain/event';
import { conflictWith, fifoGroupCount, orderEvent, parseCommands, perFifoGroup } from '../../shared/domain/execution';
import { MAX_BATCH_ORDERS, type OrderResult } from '../../shared/domain/order';
import type { OrderUpdate } from '../../shared/domain/live-delivery';
import { LedgerClientError } from '../../shared/raft-client/client';
import type { LedgerClient } from '../../shared/raft-client/types';
import { MetricName, MetricUnit } from '../../shared/powertools';
import type { ExecuteConfig } from './config';
import { chunksBy } from '../../shared/util/chunks';
import { gather, type Party } from '../../shared/util/gather';

export interface ExecuteDeps {
  config: Pick<ExecuteConfig, 'EVENTS_TOPIC_ARN' | 'COMMANDS_DLQ_URL'>;
  ledger: () => Promise<LedgerClient>;
  /** The execution records, which are the order history too (shared/aws/order-records.ts). */
  records: OrderRecords;
  /**
   * Sends order updates to the live-delivery account-updates queue (shared/aws/account-updates.ts); returns those
   * it still refused. Execute sends its own orders' updates rather than the notifier forwarding them from the topic.
   */
  accountUpdates: (updates: readonly OrderUpdate[]) => Promise<FifoSendOutcome['failed']>;
  /** The commands DLQ. */
  sqs: SQSClient;
  /** The order events topic. */
  sns: SNSClient;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

/** The SQS message attributes a dead-lettered command carries: why, and which message it was. */
export const DEAD_LETTER_REASON_ATTRIBUTE = 'deadLetterReason';
export const SOURCE_MESSAGE_ATTRIBUTE = 'sourceMessageId';

/** Where a command came from: its message, and its index there when the message is packed (several commands). */
interface Source {
  record: SQSRecord;
  part?: number | undefined;
}
interface Valid extends Source {
  command: OrderCommand;
}
interface Applied extends Valid {
  result: OrderResult;
}
/** What goes to the DLQ: a whole message (no part, its body), or one command of a packed message (its own body). */
interface Poison extends Source {
  reason: string;
  body: string;
}

/** A repeat of an order id that carries another order is refused, not treated as a redelivery. */
function withoutConflicts(all: Applied[]): { applied: Applied[]; refused: Poison[] } {
  const applied: Applied[] = [];
  const refused: Poison[] = [];
  for (const a of all) {
    const conflict = a.result.duplicate ? conflictWith(a.command.order, a.result) : undefined;
    if (conflict) refused.push(refusal(a, conflict));
    else applied.push(a);
  }
  return { applied, refused };
}

/** A command the ledger refused, for the DLQ: a packed message's command alone, with its own body. */
function refusal(v: Valid, why: string): Poison {
  const body = v.part === undefined ? v.record.body : JSON.stringify(v.command);
  return { record: v.record, part: v.part, reason: `ledger refused the order: ${why}`, body };
}

/**
 * A first execution whose event no earlier write can have decided: new to the ledger, stamped by it, and not
 * CANCELED (a cancel that beat its order to the ledger records the CANCELED event itself: shared/aws/order-entry.ts).
 */
const isDecided = (result: OrderResult) =>
  !result.duplicate && result.executedTs !== undefined && result.status !== 'CANCELED';

/** The ledger's 400 (breaks its rules) or 409 (another order under a used id): no retry changes either. */
const isInvalid = (error: unknown) =>
  error instanceof LedgerClientError && (error.status === 400 || error.status === 409);

/** What the ledger made of a group's valid commands: applied, with their results, or refused (for the DLQ). */
interface Outcome {
  applied: Applied[];
  refused: Poison[];
}
/** A group's share of its invocation's ledger batches (see handle()): it joins with its valid commands. */
type LedgerParty = Party<Valid[], Map<Valid[], PromiseSettledResult<Outcome>>>;
/** A group's share of its invocation's one write of execution records (see handle()). */
type RecordsParty = Party<OrderEvent, Map<string, Recorded>>;
/** The updates the account-updates queue still refused after its retries, with why. */
type Unsent = Map<OrderUpdate, { reason: string; senderFault: boolean }>;
/** A group's share of its invocation's one send of live updates (see handle()). */
type LiveParty = Party<OrderUpdate, Unsent>;
/** A group's shares of what its invocation does once for all its groups. */
interface Shares {
  ledger: LedgerParty;
  records: RecordsParty;
  live: LiveParty;
}

/** Milliseconds a group batch spent in each step, for its log line. */
type StepTimes = Partial<Record<'ledger' | 'record' | 'publish' | 'forward', number>>;

async function timed<T>(ms: StepTimes, step: keyof StepTimes, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await run();
  } finally {
    ms[step] = Math.round(performance.now() - started);
  }
}

/**
 * SQS FIFO batch of order commands → per message group, all of the group's commands at once (a message carries one
 * command, or up to 50 of its symbol packed by process: commandMessages in shared/domain/command.ts):
 *   1. poison (unparseable, invalid) goes to the commands DLQ at once with its reason — no retry can fix it,
 *      and retrying it would hold its group for up to maxReceiveCount × visibility timeout; an invalid command of a
 *      packed message goes alone, with its own body, and the message's other commands execute;
 *   2. the rest is applied on the ledger with the other groups' of the invocation, in ONE batch of up to 500
 *      orders (one Raft entry; a group's orders in one batch, in order; each order deduped by its id, so a
 *      redelivered batch gets the stored results back with the same seqs; applyAll);
 *   3. the events are recorded in OrdersTable by conditional puts in ONE TransactWriteItems with the other groups'
 *      of the invocation (handle()) — the first record of an order wins, and a redelivery republishes the stored
 *      event, not a new one; each record carries its order's history keys, so it is the order's GET /orders entry
 *      too (one item per order, docs/performance.md);
 *   4. the events go out to the events topic by SNS PublishBatch (dedup id = orderId, group = the order's group),
 *      which fans each out to every subscribed FIFO queue; only entries SNS refused are resent. At the same time the
 *      orders' live updates go to the live-delivery account-updates queue, with the other groups' (handle()). For a
 *      batch of first executions, whose events the ledger's results decide (executedTs is the ledger's), 4 runs at
 *      the same time as 3 (recordAndPublish).
 * A crash between any two steps leaves one ledger entry and one recorded event; the redelivery repeats the
 * steps and each is idempotent (docs/architecture.md walks every cut). Groups run concurrently; a failing group
 * reports its first failed message and the rest of its group as batch item failures, other groups go on.
 *
 * Powertools' SqsFifoPartialProcessor is not used: it runs one record at a time, and a group's records here are
 * one ledger batch. Its contract (fail the rest of a group after a failure) is kept.
 */
// Over ~80 lines on purpose: a factory closure over its dependencies (the per-group steps: dead-letter, ledger
// apply, record and publish); each inner function is short and one job, and moving them to module level would only
// thread `deps` through each.
export function createExecuteHandler(deps: ExecuteDeps) {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;

  async function deadLetter(poison: Poison[]): Promise<SQSRecord[]> {
    if (poison.length === 0) return [];
    const message = ({ record, reason, part }: Poison, body: string): FifoMessage => ({
      body,
      groupId: record.attributes.MessageGroupId ?? 'poison',
      deduplicationId: part === undefined ? record.messageId : `${record.messageId}-${part}`,
      attributes: {
        [DEAD_LETTER_REASON_ATTRIBUTE]: { DataType: 'String', StringValue: reason.slice(0, 1024) },
        [SOURCE_MESSAGE_ATTRIBUTE]: { DataType: 'String', StringValue: record.messageId },
      },
    });
    const sent = await sendFifoBatch(
      deps.sqs,
      config.COMMANDS_DLQ_URL,
      poison.map((p) => message(p, p.body)),
    );
    // A body SQS itself refuses (characters outside its allowed set) is kept base64-encoded in an envelope.
    const refused = sent.failed.filter((f) => f.senderFault).map((f) => poison[f.index]!);
    const envelope = (p: Poison) => JSON.stringify({ bodyBase64: Buffer.from(p.body).toString('base64') });
    const wrapped = await sendFifoBatch(
      deps.sqs,
      config.COMMANDS_DLQ_URL,
      refused.map((p) => message(p, envelope(p))),
    );
    for (const { record, reason, part } of poison) {
      metrics.addMetric(MetricName.PoisonCommands, MetricUnit.Count, 1);
      logger.error('poison command sent to the DLQ', { messageId: record.messageId, part, reason });
    }
    return [
      ...sent.failed.filter((f) => !f.senderFault).map((f) => poison[f.index]!.record),
      ...wrapped.failed.map((f) => refused[f.index]!.record),
    ];
  }

  /**
   * The valid commands of the invocation's groups on the ledger: whole groups packed into batches of up to
   * MAX_BATCH_ORDERS orders (a group's orders stay in one entry, in their order), the batches at once — they hold
   * different groups, so which applies first does not matter. One call for a batch of eight symbols instead of
   * eight calls and eight Raft entries (docs/performance.md, session 35). Each group gets its own outcome; a batch
   * that fails (the ledger unreachable) fails the groups in it.
   */
  async function applyAll(groups: readonly Valid[][]): Promise<Map<Valid[], PromiseSettledResult<Outcome>>> {
    const outcomes = new Map<Valid[], PromiseSettledResult<Outcome>>();
    const batches = chunksBy(
      groups.filter((g) => g.length > 0),
      Number.POSITIVE_INFINITY,
      MAX_BATCH_ORDERS,
      (g) => g.length,
    );
    if (batches.length === 0) return outcomes;
    const ledger = await deps.ledger();
    await Promise.all(
      batches.map(async (batch) => {
        try {
          const results = await applySplitting(ledger, batch.flat());
          let offset = 0;
          for (const group of batch) {
            const value = outcomeOf(group, results.slice(offset, offset + group.length));
            outcomes.set(group, { status: 'fulfilled', value });
            offset += group.length;
          }
        } catch (reason) {
          for (const group of batch) outcomes.set(group, { status: 'rejected', reason });
        }
      }),
    );
    return outcomes;
  }

  /** A group's share of its batch's results (in its commands' order): applied, or refused with the ledger's reason. */
  function outcomeOf(group: Valid[], results: (OrderResult | string)[]): Outcome {
    const applied: Applied[] = [];
    const refused: Poison[] = [];
    group.forEach((v, i) => {
      const result = results[i]!;
      if (typeof result === 'string') refused.push(refusal(v, result));
      else applied.push({ ...v, result });
    });
    const checked = withoutConflicts(applied);
    return { applied: checked.applied, refused: [...refused, ...checked.refused] };
  }

  /**
   * One ledger batch, returning per order (in order) its result or why the ledger refused it; when the ledger
   * refuses the batch as invalid (its rules can be stricter than the command schema; a refused batch applies
   * nothing), its halves in order, down to the orders it refuses alone — about 2·log2(n) calls per refused order
   * instead of one call per order (a 500-order batch with one: 17 calls, not 500). Rare by design; the halves keep
   * the orders' order.
   */
  async function applySplitting(ledger: LedgerClient, valid: Valid[]): Promise<(OrderResult | string)[]> {
    try {
      return await ledger.applyOrders(valid.map((v) => v.command.order));
    } catch (error) {
      if (!isInvalid(error)) throw error;
      if (valid.length === 1) return [(error as Error).message];
    }
    const half = Math.ceil(valid.length / 2);
    const first = await applySplitting(ledger, valid.slice(0, half));
    return [...first, ...(await applySplitting(ledger, valid.slice(half)))];
  }

  /** The group's outcome from its invocation's ledger batches (none: it had no valid command). */
  async function apply(valid: Valid[], party: LedgerParty): Promise<Outcome> {
    const outcome = (await party.join([valid])).get(valid);
    if (outcome?.status === 'rejected') throw outcome.reason;
    return outcome?.value ?? { applied: [], refused: [] };
  }

  /**
   * Sends the events' order updates to the live-delivery account-updates queue with the other groups' of the
   * invocation (handle(); an event without an account has none to deliver); returns the indexes of the events whose
   * update a retry may still send. An update the queue refuses for what it is is logged and left, as the notifier's
   * forward does: no resend makes it acceptable.
   */
  async function forwardLive(events: OrderEvent[], live: LiveParty): Promise<number[]> {
    const owned = events.flatMap((event, index) =>
      event.account ? [{ update: { ...event, account: event.account }, index }] : [],
    );
    const unsent = await live.join(owned.map((o) => o.update));
    const retry: number[] = [];
    for (const { update, index } of owned) {
      const refused = unsent.get(update);
      if (!refused) continue;
      logger.error('order update not sent to live delivery', { orderId: update.orderId, ...refused });
      if (!refused.senderFault) retry.push(index);
    }
    return retry;
  }

  /**
   * Records the events and sends them out (publish and live updates); returns the records whose event or update did
   * not go out. A batch of first executions — every result new, stamped by the ledger (executedTs) and not
   * CANCELED — has its events decided: each is a function of its command and the ledger's result, so any later
   * delivery of the same message builds the same event, and they go out while their records are written (the record
   * is off the event's path: docs/architecture.md). Otherwise the record decides, first: a redelivery's or a
   * repeated id's stored event, a cancel's CANCELED event recorded before the order arrived, a result from a ledger
   * that did not stamp it — the first record wins and the stored event is what goes out.
   */
  async function recordAndPublish(applied: Applied[], ms: StepTimes, shares: Shares): Promise<SQSRecord[]> {
    if (applied.length === 0) return [];
    const executedTs = now();
    const events = applied.map((a) => orderEvent(a.command, a.result, a.result.executedTs ?? executedTs));
    const record = () => timed(ms, 'record', () => shares.records.join(events));
    if (applied.every(({ result }) => isDecided(result))) {
      // Both settle before the group's outcome is known: a failed record fails the group even when the events
      // went out (the redelivery records the same events), and no send is left running behind a failed group.
      const [sent, recorded] = await Promise.allSettled([sendOut(events, ms, shares.live), record()]);
      if (recorded.status === 'rejected') throw recorded.reason;
      if (sent.status === 'rejected') throw sent.reason;
      checkStanding(events, recorded.value);
      observe(applied, events, ms);
      return sent.value.map((i) => applied[i]!.record);
    }
    const recorded = await record();
    const standing = events.map((e) => recorded.get(e.orderId)?.event ?? e);
    const unsent = await sendOut(standing, ms, shares.live);
    observe(applied, standing, ms);
    return unsent.map((i) => applied[i]!.record);
  }

  /**
   * The invariant publishing before the record rests on: a record found already written for a first execution holds
   * the same event (only another delivery of the same message can have written it). Logged if ever broken, since
   * the event that went out and the record would then differ.
   */
  function checkStanding(events: OrderEvent[], recorded: Map<string, Recorded>): void {
    for (const event of events) {
      const standing = recorded.get(event.orderId);
      if (standing?.stored && !isDeepStrictEqual(standing.event, event)) {
        logger.error('published event differs from the one recorded before', { orderId: event.orderId });
      }
    }
  }

  /**
   * Publishes the events and sends their live updates, at once rather than one after the other (a group's batches
   * run in sequence, so a step in series is a round trip more on every order's path). A live update that fails fails
   * the group like a failed publish, and the redelivery sends it. Returns the indexes of the events not sent.
   */
  async function sendOut(events: OrderEvent[], ms: StepTimes, live: LiveParty): Promise<number[]> {
    const [{ failed }, unforwarded] = await Promise.all([
      timed(ms, 'publish', () =>
        publishOrderEvents(deps.sns, config.EVENTS_TOPIC_ARN, events, { liveForwarded: true }),
      ),
      timed(ms, 'forward', () => forwardLive(events, live)),
    ]);
    for (const f of failed)
      logger.error('event not published', { orderId: events[f.index]!.orderId, reason: f.reason });
    return [...new Set([...failed.map((f) => f.index), ...unforwarded])];
  }

  /**
   * Metrics per order; logs one INFO line per group batch (counts and ids, enough to find an order in the logs)
   * and the per-order line at DEBUG — a line per order was a worker IPC message, a PutLogEvents entry and a
   * journal write for every order (docs/performance.md).
   */
  function observe(applied: Applied[], events: OrderEvent[], ms: StepTimes): void {
    const tally = { accepted: 0, rejected: 0, canceled: 0, duplicates: 0 };
    applied.forEach(({ command, result }, i) => {
      const event = events[i]!;
      const { orderId, status, seq, reason } = event;
      const { correlationId } = command;
      if (result.duplicate) {
        tally.duplicates++;
        metrics.addMetric(MetricName.DuplicatesCaught, MetricUnit.Count, 1);
        logger.debug('duplicate command: republished the stored event', { orderId, correlationId });
        return;
      }
      if (status === 'CANCELED') {
        // Canceled before it reached the ledger: not executed, so no execution metrics.
        tally.canceled++;
        return;
      }
      tally[status === 'ACCEPTED' ? 'accepted' : 'rejected']++;
      metrics.addMetric(
        status === 'ACCEPTED' ? MetricName.OrdersAccepted : MetricName.OrdersRejected,
        MetricUnit.Count,
        1,
      );
      metrics.addMetric(MetricName.TickToExecutionLatency, MetricUnit.Milliseconds, event.executedTs - event.tickTs);
      logger.debug('order executed', { orderId, correlationId, status, seq, reason });
    });
    const seqs = events.flatMap((e) => (e.seq === null ? [] : [e.seq]));
    logger.info('orders executed', {
      group: events[0]?.symbol,
      ...tally,
      ...(seqs.length > 0 ? { firstSeq: Math.min(...seqs), lastSeq: Math.max(...seqs) } : {}),
      // Where the batch's time went (ms): the ledger apply, the execution records' write, the publish, the live
      // updates' send.
      ms,
      orderIds: events.map((e) => e.orderId),
      rejectedOrderIds: events.filter((e) => e.status === 'REJECTED').map((e) => e.orderId),
    });
  }

  /** Runs one group; returns the records that failed: the first that failed and every later one of the group. */
  async function executeGroup(records: SQSRecord[], shares: Shares): Promise<SQSRecord[]> {
    const valid: Valid[] = [];
    const poison: Poison[] = [];
    for (const record of records) {
      for (const parsed of parseCommands(record.body)) {
        const { part } = parsed;
        if (parsed.ok) valid.push({ record, part, command: parsed.command });
        else poison.push({ record, part, reason: `message ${record.messageId}: ${parsed.reason}`, body: parsed.body });
      }
    }
    // Poison leaves first, so nothing after it can hold it (or its group) back.
    const failed = new Set(await deadLetter(poison));
    const ms: StepTimes = {};
    const { applied, refused } = await timed(ms, 'ledger', () => apply(valid, shares.ledger));
    for (const r of await deadLetter(refused)) failed.add(r);
    for (const r of await recordAndPublish(applied, ms, shares)) failed.add(r);
    const firstFailed = records.findIndex((r) => failed.has(r));
    return firstFailed < 0 ? [] : records.slice(firstFailed);
  }

  async function runGroup(records: SQSRecord[], shares: Shares): Promise<SQSRecord[]> {
    try {
      return await executeGroup(records, shares);
    } catch (error) {
      // Anything a retry may fix (ledger unreachable, throttling, a crash): the whole group is retried; every
      // step is idempotent, so what already happened is found again, not repeated.
      logger.error('group failed; its messages will be redelivered', {
        group: records[0]?.attributes.MessageGroupId,
        messages: records.length,
        error: error as Error,
      });
      return records;
    } finally {
      // A group that recorded or sent nothing (all poison, nothing applied, failed before) must not hold the others'.
      shares.ledger.leave();
      shares.records.leave();
      shares.live.leave();
    }
  }

  /**
   * The groups of one invocation apply their orders on the ledger together (applyAll): one call and one Raft entry
   * for up to 500 orders, not one per group. They write their execution records together too: one
   * TransactWriteItems (per 100 orders) made once every group has joined or left, instead of one per group.
   * DynamoDB Local spends about a third as much per item in a transaction of 48 as in one of 6 (docs/performance.md,
   * sessions 32–33), and the invocation, whose messages are deleted when it returns, waits for its slowest group's
   * record either way. A failed write fails every group that joined it; their redeliveries find what was written
   * (each put is conditional).
   * Their live updates go the same way: packed per account across the groups and sent in one SendMessageBatch (per
   * ten messages), not one per group — an account trading eight symbols got eight small messages per invocation,
   * and the notifier, which numbers an account's updates one batch at a time, as many turns. A message the queue
   * still refuses fails every group with an update in it; their redeliveries send them again, and the delivery
   * log's dedup rows give each update the seq it got before.
   */
  function handle(event: SQSEvent): Promise<SQSBatchResponse> {
    const groups = fifoGroupCount(event.Records);
    const ledger = gather(groups, applyAll);
    const records = gather(groups, (events: readonly OrderEvent[]) => deps.records.record(events, now()));
    const live = gather(groups, async (updates: readonly OrderUpdate[]): Promise<Unsent> => {
      const failed = await deps.accountUpdates(updates);
      return new Map(failed.map(({ index, reason, senderFault }) => [updates[index]!, { reason, senderFault }]));
    });
    return perFifoGroup(event.Records, (messages) =>
      runGroup(messages, { ledger: ledger(), records: records(), live: live() }),
    );
  }

  return middy((event: SQSEvent, _context: Context): Promise<SQSBatchResponse> => handle(event))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
