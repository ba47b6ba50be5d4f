import { z } from 'zod';
import {
  describeZodError,
  OrderSchema,
  type Order,
  type OrderBatchResult,
  type OrderResult,
} from '../../../shared/domain/order';
import { RiskLimitsSchema, type Position, type RiskLimits } from '../../../shared/ledger-contract';
import { decodeCommand } from './commands';
import { checkRisk, DEFAULT_RISK_LIMITS, positionDelta } from './risk';

export interface HaltState {
  halted: boolean;
  reason: string | null;
}

/** What a malformed entry applies to: nothing changes but the applied index. */
export interface CommandError {
  error: string;
}

/**
 * Per command: order → OrderResult, orderBatch → OrderBatchResult, setLimits → the limits now in force,
 * halt/resume → HaltState.
 */
export type LedgerApplyResult = OrderResult | OrderBatchResult | RiskLimits | HaltState | CommandError;

export function isCommandError(result: LedgerApplyResult): result is CommandError {
  return 'error' in result;
}

/*
 * Snapshot records: the ledger is written as a sequence of JSON records, none longer than the caller's bound, so no
 * string or buffer ever holds the whole state (V8 caps a string near 512 MiB, about 1.6 M orders as one JSON).
 *   1. {kind: 'ledger', version, appliedIndex, lastSeq, limits, halted, haltReason, orders, positions} (counts)
 *   2. {kind: 'orders', orders: [...]} as many as needed, in insertion (= replay) order
 *   3. {kind: 'positions', positions: [...]} as many as needed, in insertion order
 */
const SNAPSHOT_VERSION = 2;
/** Records are kept under this many bytes unless the caller says otherwise. */
export const DEFAULT_SNAPSHOT_RECORD_BYTES = 1024 * 1024;

/**
 * The limits in a snapshot. Snapshots written before the price/notional floors existed lack them: those get the
 * defaults, so an old snapshot still loads.
 */
const SnapshotLimitsSchema = RiskLimitsSchema.extend({
  minPrice: RiskLimitsSchema.shape.minPrice.default(DEFAULT_RISK_LIMITS.minPrice),
  minOrderNotional: RiskLimitsSchema.shape.minOrderNotional.default(DEFAULT_RISK_LIMITS.minOrderNotional),
});

const RecordedOrderSchema = OrderSchema.extend({
  status: z.enum(['ACCEPTED', 'REJECTED']),
  seq: z.number().int().positive().optional(),
  reason: z.string().optional(),
  duplicate: z.literal(false),
  position: z.number().int(),
}).strict();

const PositionRecordSchema = z
  .object({ account: z.string().min(1), symbol: z.string().min(1), quantity: z.number().int() })
  .strict();

const LedgerHeadSchema = z
  .object({
    kind: z.literal('ledger'),
    version: z.literal(SNAPSHOT_VERSION),
    appliedIndex: z.number().int().nonnegative(),
    lastSeq: z.number().int().nonnegative(),
    limits: SnapshotLimitsSchema,
    halted: z.boolean(),
    haltReason: z.string().nullable(),
    orders: z.number().int().nonnegative(),
    positions: z.number().int().nonnegative(),
  })
  .strict();

const LedgerBodySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('orders'), orders: z.array(RecordedOrderSchema) }).strict(),
  z.object({ kind: z.literal('positions'), positions: z.array(PositionRecordSchema) }).strict(),
]);

/**
 * The replicated order ledger: a pure, deterministic state machine (no clock, no I/O) that every replica
 * applies the committed log to. Same entries in the same order → same state and same results.
 *
 * Memory: every order result is kept forever (exactly-once needs the orderId → result map), so the map and the
 * snapshot grow with the number of distinct order ids; expiring old ids would need a replicated time source.
 */
export class LedgerStateMachine {
  private orders = new Map<string, OrderResult>();
  /** account → symbol → position; insertion order is replay order, hence identical on every replica. */
  private positionBook = new Map<string, Map<string, number>>();
  private currentLimits: RiskLimits = { ...DEFAULT_RISK_LIMITS };
  private haltState: HaltState = { halted: false, reason: null };
  private seq = 0;
  private applied = 0;

  /**
   * Applies the command in a committed normal entry's data. `index` is the entry's log index and must grow
   * (entries without a command — no-ops, configuration — may be skipped). A malformed command changes nothing
   * but the applied index and answers with an error: the entry is committed, every replica must agree on it.
   */
  apply(data: string, index: number): LedgerApplyResult {
    if (!Number.isInteger(index) || index <= this.applied) {
      throw new Error(`ledger: entry ${index} applied out of order (already applied up to ${this.applied})`);
    }
    this.applied = index;
    const command = decodeCommand(data);
    if ('error' in command) return command;
    switch (command.type) {
      case 'order':
        return this.applyOrder(command.order);
      case 'orderBatch':
        // One entry, applied in order with nothing in between: each order sees the positions (and the seqs)
        // of the ones before it, a repeated id within the batch answers the first one's result, and since
        // applyOrder cannot fail, a batch that parsed is applied whole.
        return { results: command.orders.map((order) => this.applyOrder(order)) };
      case 'setLimits':
        this.currentLimits = { ...this.currentLimits, ...definedOnly(command.limits) };
        return { ...this.currentLimits };
      case 'halt':
        this.haltState = { halted: true, reason: command.reason ?? null };
        return { ...this.haltState };
      case 'resume':
        this.haltState = { halted: false, reason: null };
        return { ...this.haltState };
    }
  }

  private applyOrder(order: Order): OrderResult {
    const first = this.orders.get(order.orderId);
    if (first) return { ...first, duplicate: true };

    const current = this.positionOf(order.account, order.symbol);
    const reason = checkRisk(order, {
      limits: this.currentLimits,
      halted: this.haltState.halted,
      haltReason: this.haltState.reason,
      position: current,
    });
    const base = {
      orderId: order.orderId,
      account: order.account,
      symbol: order.symbol,
      side: order.side,
      quantity: order.quantity,
      price: order.price,
      duplicate: false,
    };
    let result: OrderResult;
    if (reason === undefined) {
      this.seq += 1;
      const position = current + positionDelta(order);
      this.setPosition(order.account, order.symbol, position);
      result = { ...base, status: 'ACCEPTED', seq: this.seq, position };
    } else {
      result = { ...base, status: 'REJECTED', reason, position: current };
    }
    this.orders.set(order.orderId, result);
    return { ...result };
  }

  private positionOf(account: string, symbol: string): number {
    return this.positionBook.get(account)?.get(symbol) ?? 0;
  }

  private setPosition(account: string, symbol: string, quantity: number): void {
    let bySymbol = this.positionBook.get(account);
    if (!bySymbol) {
      bySymbol = new Map();
      this.positionBook.set(account, bySymbol);
    }
    bySymbol.set(symbol, quantity);
  }

  /** The recorded result (duplicate: false), or undefined for an order id never applied. */
  getOrder(orderId: string): OrderResult | undefined {
    const result = this.orders.get(orderId);
    return result ? { ...result } : undefined;
  }

  /** Positions of every account (or one), sorted by account then symbol. */
  positions(account?: string): Position[] {
    const accounts = account === undefined ? [...this.positionBook.keys()] : [account];
    return accounts
      .sort()
      .flatMap((name) =>
        [...(this.positionBook.get(name) ?? new Map<string, number>())]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([symbol, quantity]) => ({ account: name, symbol, quantity })),
      );
  }

  get limits(): RiskLimits {
    return { ...this.currentLimits };
  }

  get halted(): boolean {
    return this.haltState.halted;
  }

  get haltReason(): string | null {
    return this.haltState.reason;
  }

  /** The sequence number of the last accepted order (0 before any). */
  get lastSeq(): number {
    return this.seq;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /**
   * The state as snapshot records (see the top of this file), each a JSON text of at most `maxRecordBytes` UTF-8
   * bytes (an order or position larger than that on its own gets a record of its own). restoreFrom() of them is an
   * identical ledger. The ledger must not change while the generator runs (the node drains it synchronously).
   */
  *snapshotRecords(maxRecordBytes = DEFAULT_SNAPSHOT_RECORD_BYTES): Generator<string> {
    const positionCount = [...this.positionBook.values()].reduce((n, bySymbol) => n + bySymbol.size, 0);
    yield JSON.stringify({
      kind: 'ledger',
      version: SNAPSHOT_VERSION,
      appliedIndex: this.applied,
      lastSeq: this.seq,
      limits: { ...this.currentLimits },
      halted: this.haltState.halted,
      haltReason: this.haltState.reason,
      orders: this.orders.size,
      positions: positionCount,
    } satisfies z.infer<typeof LedgerHeadSchema>);
    const orders = (function* (map: Map<string, OrderResult>) {
      for (const result of map.values()) yield JSON.stringify(recordedOrder(result));
    })(this.orders);
    yield* batchRecords('orders', orders, maxRecordBytes);
    const positions = (function* (book: Map<string, Map<string, number>>) {
      for (const [account, bySymbol] of book) {
        for (const [symbol, quantity] of bySymbol) yield JSON.stringify({ account, symbol, quantity });
      }
    })(this.positionBook);
    yield* batchRecords('positions', positions, maxRecordBytes);
  }

  /**
   * Rebuilds a ledger from the parsed records of snapshotRecords(), consuming them one at a time; throws naming what
   * is wrong when they are not a consistent snapshot.
   */
  static restoreFrom(records: Iterable<unknown>): LedgerStateMachine {
    const iterator = records[Symbol.iterator]();
    const first = iterator.next();
    const head = LedgerHeadSchema.safeParse(first.done ? undefined : first.value);
    if (!head.success) throw new Error(`invalid ledger snapshot: first record: ${describeZodError(head.error)}`);
    const ledger = new LedgerStateMachine();
    const seqs = new Set<number>();
    let positions = 0;
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      const parsed = LedgerBodySchema.safeParse(next.value);
      if (!parsed.success) throw new Error(`invalid ledger snapshot: ${describeZodError(parsed.error)}`);
      const record = parsed.data;
      if (record.kind === 'orders') {
        if (positions > 0) throw new Error('invalid ledger snapshot: orders after positions');
        for (const order of record.orders) ledger.restoreOrder(order, head.data.lastSeq, seqs);
      } else {
        for (const { account, symbol, quantity } of record.positions) {
          if (ledger.positionBook.get(account)?.has(symbol)) {
            throw new Error(`invalid ledger snapshot: position ${account}/${symbol} appears twice`);
          }
          ledger.setPosition(account, symbol, quantity);
          positions += 1;
        }
      }
    }
    const { lastSeq, orders: orderCount, positions: positionCount } = head.data;
    if (ledger.orders.size !== orderCount || positions !== positionCount) {
      throw new Error(
        `invalid ledger snapshot: ${ledger.orders.size} orders and ${positions} positions, but the head says ${orderCount} and ${positionCount}`,
      );
    }
    if (seqs.size !== lastSeq) {
      throw new Error(`invalid ledger snapshot: ${seqs.size} accepted orders but lastSeq is ${lastSeq}`);
    }
    ledger.currentLimits = head.data.limits;
    ledger.haltState = { halted: head.data.halted, reason: head.data.haltReason };
    ledger.seq = lastSeq;
    ledger.applied = head.data.appliedIndex;
    return ledger;
  }

  private restoreOrder(order: z.infer<typeof RecordedOrderSchema>, lastSeq: number, seqs: Set<number>): void {
    if (this.orders.has(order.orderId)) {
      throw new Error(`invalid ledger snapshot: order ${order.orderId} appears twice`);
    }
    if ((order.status === 'ACCEPTED') !== (order.seq !== undefined)) {
      throw new Error(`invalid ledger snapshot: order ${order.orderId} has a seq iff it is accepted, and it does not`);
    }
    if (order.seq !== undefined) {
      if (order.seq > lastSeq || seqs.has(order.seq)) {
        throw new Error(
          `invalid ledger snapshot: seq ${order.seq} of order ${order.orderId} is repeated or past lastSeq`,
        );
      }
      seqs.add(order.seq);
    }
    this.orders.set(order.orderId, { ...order });
  }
}

/** Joins JSON items into `{"kind":…,"<kind>":[…]}` records of at most maxBytes UTF-8 bytes each. */
function* batchRecords(kind: 'orders' | 'positions', items: Iterable<string>, maxBytes: number): Generator<string> {
  const open = `{"kind":"${kind}","${kind}":[`;
  const close = ']}';
  let batch: string[] = [];
  let bytes = open.length + close.length;
  for (const item of items) {
    const size = Buffer.byteLength(item, 'utf8') + 1;
    if (batch.length > 0 && bytes + size > maxBytes) {
      yield open + batch.join(',') + close;
      batch = [];
      bytes = open.length + close.length;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length > 0) yield open + batch.join(',') + close;
}

/** The stored form of a result: exactly the OrderResult fields, optional ones only when present. */
function recordedOrder(result: OrderResult): z.infer<typeof RecordedOrderSchema> {
  const { orderId, account, symbol, side, quantity, price, status, seq, reason, position } = result;
  return {
    orderId,
    account,
    symbol,
    side,
    quantity,
    price,
    status,
    ...(seq !== undefined ? { seq } : {}),
    ...(reason !== undefined ? { reason } : {}),
    duplicate: false,
    position,
  };
}

function definedOnly(patch: Partial<RiskLimits>): Partial<RiskLimits> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}
