import { MAX_COMMANDS_PER_MESSAGE, OrderCommandSchema, type OrderCommand } from './command';
import { OrderEventSchema, type OrderEvent } from './event';
import { describeZodError, type Order, type OrderResult } from './order';
import { byGroup } from '../util/chunks';
import { unpack } from '../util/packing';

/**
 * Pure steps of execution, shared by the execute function and its tests: reading a command, turning the
 * ledger's result into the event that is recorded and published, and splitting a FIFO batch into groups.
 */

/**
 * One command of a commands-queue message: valid, or poison with why and its own body (what the DLQ keeps). `part` is
 * its index in a packed message (commandMessages), undefined for a message of one command.
 */
export type ParsedCommand =
  { ok: true; command: OrderCommand; part?: number } | { ok: false; reason: string; body: string; part?: number };

function checkCommand(value: unknown, body: string): ParsedCommand {
  const parsed = OrderCommandSchema.safeParse(value);
  return parsed.success
    ? { ok: true, command: parsed.data }
    : { ok: false, reason: describeZodError(parsed.error), body };
}

/**
 * The commands of one message, in order; poison is what no retry can make valid. A body that is not JSON, or a
 * packed message that is not a list of 1 to MAX_COMMANDS_PER_MESSAGE, is poison whole. In a packed message each
 * command is checked on its own: an invalid one is dead-lettered alone and the others execute.
 */
export function parseCommands(body: string): ParsedCommand[] {
  const value = unpack(body, 'commands');
  if ('error' in value) return [{ ok: false, reason: value.error, body }];
  if ('one' in value) return [checkCommand(value.one, body)];
  const count = value.packed.length;
  if (count === 0 || count > MAX_COMMANDS_PER_MESSAGE) {
    return [{ ok: false, reason: `commands: expected 1 to ${MAX_COMMANDS_PER_MESSAGE} commands, got ${count}`, body }];
  }
  return value.packed.map((item, part) => {
    const checked = checkCommand(item, JSON.stringify(item));
    return checked.ok ? { ...checked, part } : { ...checked, reason: `command ${part}: ${checked.reason}`, part };
  });
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

/** The parts of an SQS record the per-group runner reads. */
interface GroupedRecord {
  messageId: string;
  attributes: { MessageGroupId?: string };
}

/** A record's FIFO message group (SQS gives every FIFO message one; '' stands for none). */
const groupOf = (r: GroupedRecord) => r.attributes.MessageGroupId ?? '';

/** How many message groups a FIFO batch holds: how many runs perFifoGroup makes. */
export function fifoGroupCount(records: readonly GroupedRecord[]): number {
  return new Set(records.map(groupOf)).size;
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
  const groups = byGroup(records, groupOf);
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
