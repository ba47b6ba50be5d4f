import { OrderEventSchema, type OrderEvent } from '../../shared/domain/event';
import { parseJson } from '../../shared/util/json';

/**
 * The events a run drained, grouped by what the event contract (docs/architecture.md#where-the-argument-stops)
 * counts as one execution: an order id with its seq. Pure, so the duplicate rule is tested without emulators.
 *
 * - The same SQS message read twice (not deleted in time) is one message: counted once.
 * - Another message carrying the same (orderId, seq) and the same content is a **re-publish** — execute
 *   republishing the recorded event after the FIFO queue's 5-minute dedup window (a late redelivery, a process
 *   outbox resend). The contract allows it: consumers drop an orderId they have seen. Counted, not a problem.
 * - The same (orderId, seq) with other content is a second version of the event, which the contract forbids
 *   (the recorded event is republished, never a new one): a problem.
 * - Two different seqs (or an accepted and a rejected outcome) for one order id are two executions: a duplicate.
 */
export interface OrderExecutions {
  /** The first event seen for the order. */
  event: OrderEvent;
  /** Distinct executions by key (see executionKey), each with the SQS message ids that carried it. */
  executions: Map<string, { event: OrderEvent; canonical: string; messageIds: Set<string> }>;
  /** Messages carrying an execution already seen, with the same content. */
  republished: number;
  /** Messages carrying an execution already seen, with other content. */
  changed: number;
}

export interface EventTally {
  byOrder: Map<string, OrderExecutions>;
  malformed: number;
}

/** One execution of an order: its ledger seq, or its rejection (a rejected order has no seq). */
export const executionKey = (e: Pick<OrderEvent, 'seq'>): string => (e.seq === null ? 'rejected' : `seq ${e.seq}`);

/** Tallies drained event messages (each a body and the SQS message id that carried it), in the order read. */
export function tallyEvents(messages: Iterable<{ messageId: string; body: string }>): EventTally {
  const byOrder = new Map<string, OrderExecutions>();
  let malformed = 0;
  for (const { messageId, body } of messages) {
    const parsed = OrderEventSchema.safeParse(parseJson(body));
    if (!parsed.success) {
      malformed++;
      continue;
    }
    const event = parsed.data;
    // zod's output lists the keys in the schema's order, so equal events serialise equally whatever the body's order.
    const canonical = JSON.stringify(event);
    const order = byOrder.get(event.orderId) ?? { event, executions: new Map(), republished: 0, changed: 0 };
    byOrder.set(event.orderId, order);
    const key = executionKey(event);
    const seen = order.executions.get(key);
    if (!seen) order.executions.set(key, { event, canonical, messageIds: new Set([messageId]) });
    else if (!seen.messageIds.has(messageId)) {
      seen.messageIds.add(messageId);
      if (seen.canonical === canonical) order.republished++;
      else order.changed++;
    }
  }
  return { byOrder, malformed };
}

/** What verify reports from a tally: counts, and the problems (at most `examples` named per kind). */
export function checkExecutions(
  tally: EventTally,
  examples = 5,
): { counts: Record<string, number>; problems: string[] } {
  const problems: string[] = [];
  const counts = { accepted: 0, rejected: 0, ordersExecutedTwice: 0, republishedEvents: 0, changedRepublishes: 0 };
  if (tally.malformed > 0) problems.push(`${tally.malformed} event message(s) are not valid order events`);
  for (const [orderId, order] of tally.byOrder) {
    counts[order.event.status === 'ACCEPTED' ? 'accepted' : 'rejected']++;
    counts.republishedEvents += order.republished;
    if (order.executions.size > 1) {
      counts.ordersExecutedTwice++;
      if (counts.ordersExecutedTwice <= examples)
        problems.push(
          `order ${orderId} was executed ${order.executions.size} times (${[...order.executions.keys()].join(', ')})`,
        );
    }
    if (order.changed > 0) {
      counts.changedRepublishes += order.changed;
      if (counts.changedRepublishes <= examples)
        problems.push(`order ${orderId}: an event was republished with the same seq but other content`);
    }
  }
  return { counts, problems };
}
