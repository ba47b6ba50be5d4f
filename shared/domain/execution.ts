import { OrderCommandSchema, type OrderCommand } from './command';
import { OrderEventSchema, type OrderEvent } from './event';
import { describeZodError, type Order, type OrderResult } from './order';

/**
 * Pure steps of execution, shared by the execute function and its tests: reading a command, turning the
 * ledger's result into the event that is recorded and published, and splitting a FIFO batch into groups.
 */

export type ParsedCommand = { ok: true; command: OrderCommand } | { ok: false; reason: string };

/** A command is poison when no retry can make it valid: not JSON, or not an order command. */
export function parseCommand(body: string): ParsedCommand {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: `body is not JSON: ${(error as Error).message}` };
  }
  const parsed = OrderCommandSchema.safeParse(json);
  return parsed.success ? { ok: true, command: parsed.data } : { ok: false, reason: describeZodError(parsed.error) };
}

export function orderEvent(command: OrderCommand, result: OrderResult, executedTs: number): OrderEvent {
  return OrderEventSchema.parse({
    orderId: result.orderId,
    status: result.status,
    seq: result.seq ?? null,
    reason: result.reason ?? null,
    account: result.account,
    symbol: result.symbol,
    side: result.side,
    quantity: result.quantity,
    price: result.price,
    position: result.position,
    tickTs: command.tickTs,
    commandTs: command.commandTs,
    executedTs,
    correlationId: command.correlationId,
  });
}

/** Items of a FIFO batch by message group, each group in the batch's order (Map keeps first-seen order). */
export function byGroup<T, K = string>(items: readonly T[], groupOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const group = groupOf(item);
    const list = groups.get(group);
    if (list) list.push(item);
    else groups.set(group, [item]);
  }
  return groups;
}

/** The parts of an SQS record the per-group runner reads. */
interface GroupedRecord {
  messageId: string;
  attributes: { MessageGroupId?: string };
}

/**
 * Runs each message group of a FIFO batch concurrently (`runGroup` gets a group's records in batch order and
 * returns the ones that failed) and reports the failed records as the event source mapping expects them, in the
 * batch's order, as Powertools' processor would.
 */
export async function perFifoGroup<R extends GroupedRecord>(
  records: readonly R[],
  runGroup: (group: R[]) => Promise<R[]>,
): Promise<{ batchItemFailures: { itemIdentifier: string }[] }> {
  const groups = byGroup(records, (r) => r.attributes.MessageGroupId ?? '');
  const failed = new Set((await Promise.all([...groups.values()].map(runGroup))).flat());
  return { batchItemFailures: records.filter((r) => failed.has(r)).map((r) => ({ itemIdentifier: r.messageId })) };
}

/**
 * The ledger answers a repeated order id with the result it recorded first. When the repeat carries a
 * different order under that id, it is not a redelivery but a second order reusing an id: say what differs.
 */
export function conflictWith(order: Order, result: OrderResult): string | undefined {
  const fields = ['account', 'symbol', 'side', 'quantity', 'price'] as const;
  const differing = fields.filter((f) => order[f] !== result[f]);
  if (differing.length === 0) return undefined;
  return `order id ${order.orderId} was executed before with a different ${differing.join(', ')}`;
}
