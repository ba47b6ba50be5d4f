import { z } from 'zod';
import {
  CANCELED_REASON,
  describeZodError,
  ORDER_STATUSES,
  OrderSchema,
  type CancelResult,
  type Order,
  type OrderBatchResult,
  type OrderResult,
} from '../../../shared/domain/order';
import { RiskLimitsSchema, type Position, type RiskLimits } from '../../../shared/ledger-contract';
import { decodeCommand } from './commands';
import { MemoryOrderStore, type CancelTombstone, type LedgerCoreState, type OrderStore } from './order-store';
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
 * halt/resume → HaltState, cancel → CancelResult.
 */
export type LedgerApplyResult = OrderResult | OrderBatchResult | RiskLimits | HaltState | CancelResult | CommandError;

export { CANCELED_REASON };

export function isCommandError(result: LedgerApplyResult): result is CommandError {
  return 'error' in result;
}

/*
 * Snapshot records: the ledger is written as a sequence of JSON records, none longer than the caller's bound, so no
 * string or buffer ever holds the whole state (V8 caps a string near 512 MiB, about 1.6 M orders as one JSON).
 *   1. {kind: 'ledger', version, appliedIndex, lastSeq, limits, halted, haltReason, orders, positions} (counts)
 *   2. {kind: 'orders', orders: [...]} as many as needed, in insertion (= replay) order
 *   3. {kind: 'positions', positions: [...]} as many as needed, in insertion order
 *   4. {kind: 'cancels', cancels: [...]} as many as needed, in insertion order (version 3; a version 2 snapshot,
 *      written before the cancel command, has none and loads with none)
 */
const SNAPSHOT_VERSION = 3;
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
  status: z.enum(ORDER_STATUSES as [OrderResult['status'], ...OrderResult['status'][]]),
  seq: z.number().int().positive().optional(),
  reason: z.string().optional(),
  duplicate: z.literal(false),
  position: z.number().int(),
  executedTs: z.number().int().nonnegative().optional(),
}).strict();

const PositionRecordSchema = z
  .object({ account: z.string().min(1), symbol: z.string().min(1), quantity: z.number().int() })
  .strict();

const CancelRecordSchema = z.object({ orderId: z.string().min(1), account: z.string().min(1) }).strict();

const LedgerHeadSchema = z
  .object({
    kind: z.literal('ledger'),
    version: z.union([z.literal(2), z.literal(SNAPSHOT_VERSION)]),
    appliedIndex: z.number().int().nonnegative(),
    lastSeq: z.number().int().nonnegative(),
    limits: SnapshotLimitsSchema,
    halted: z.boolean(),
    haltReason: z.string().nullable(),
    orders: z.number().int().nonnegative(),
    positions: z.number().int().nonnegative(),
    cancels: z.number().int().nonnegative().default(0),
  })
  .strict();

const LedgerBodySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('orders'), orders: z.array(RecordedOrderSchema) }).strict(),
  z.object({ kind: z.literal('positions'), positions: z.array(PositionRecordSchema) }).strict(),
  z.object({ kind: z.literal('cancels'), cancels: z.array(CancelRecordSchema) }).strict(),
]);

/** Results buffered before the state machine commits them to its store on its own (the node flushes sooner). */
const AUTO_FLUSH_ORDERS = 4_096;

/**
 * The replicated order ledger: a deterministic state machine (no clock) that every replica applies the committed
 * log to. Same entries in the same order → same state and same results.
 *
 * Memory: every order result is kept forever (exactly-once needs the orderId → result map), but in an OrderStore
 * (order-store.ts): on disk in the node, so memory holds only the small state (limits, halt, seq, positions) and the
 * results applied since the last flush(). apply() buffers; flush() commits the buffer, the positions it changed and
 * the applied index to the store in one transaction (the node calls it once per applied batch of entries), so the
 * store always holds a prefix of the log that ends at the applied index it reports. Reads see the buffer first.
 * Expiring old ids would need a replicated time source.
 */
export class LedgerStateMachine {
  /** Results applied since the last flush(), by order id, in apply order. */
  private pending = new Map<string, OrderResult>();
  /** Cancel tombstones applied since the last flush(): order id → the account that canceled it. */
  private pendingCancels = new Map<string, string>();
  /**
   * Whether any tombstone exists: until the first cancel, an order's apply skips the tombstone lookup (one store
   * read per order on the hot path, which a ledger without cancels need not pay).
   */
  private anyCancels: boolean;
  /** Positions changed since the last flush(). */
  private changedPositions = new Map<string, Position>();
  /** account → symbol → position; insertion order is replay order, hence identical on every replica. */
  private positionBook = new Map<string, Map<string, number>>();
  private currentLimits: RiskLimits = { ...DEFAULT_RISK_LIMITS };
  private haltState: HaltState = { halted: false, reason: null };
  private seq = 0;
  private applied = 0;
  /** The applied index the store holds. */
  private flushed = 0;

  /** A ledger over `store`, resuming from what it holds (an empty store is an empty ledger). */
  constructor(private readonly store: OrderStore = new MemoryOrderStore()) {
    this.anyCancels = store.cancelCount() > 0;
    const loaded = store.load();
    if (!loaded) return;
    this.applyCoreState(loaded.state);
    this.flushed = loaded.state.appliedIndex;
    for (const { account, symbol, quantity } of loaded.positions) this.setPosition(account, symbol, quantity, false);
  }

  private applyCoreState(state: LedgerCoreState): void {
    this.currentLimits = { ...state.limits };
    this.haltState = { halted: state.halted, reason: state.haltReason };
    this.seq = state.lastSeq;
    this.applied = state.appliedIndex;
  }

  private coreState(): LedgerCoreState {
    return {
      appliedIndex: this.applied,
      lastSeq: this.seq,
      limits: { ...this.currentLimits },
      halted: this.haltState.halted,
      haltReason: this.haltState.reason,
    };
  }

  /** Commits what was applied since the last flush to the store, atomically with the applied index. */
  flush(): void {
    const idle = this.pending.size === 0 && this.pendingCancels.size === 0 && this.changedPositions.size === 0;
    if (this.applied === this.flushed && idle) return;
    this.store.commit({
      orders: [...this.pending.values()],
      cancels: [...this.pendingCancels].map(([orderId, account]) => ({ orderId, account })),
      positions: [...this.changedPositions.values()],
      state: this.coreState(),
    });
    this.pending.clear();
    this.pendingCancels.clear();
    this.changedPositions.clear();
    this.flushed = this.applied;
  }

  /** The applied index the store holds (what a restart resumes from). */
  get storedIndex(): number {
    return this.flushed;
  }

  /** Flushes and closes the store. */
  close(): void {
    this.flush();
    this.store.close();
  }

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
    const result = this.applyCommand(data);
    if (this.pending.size + this.pendingCancels.size >= AUTO_FLUSH_ORDERS) this.flush();
    return result;
  }

  /** An entry without a ledger command (a configuration change) at `index`: only the applied index moves. */
  skip(index: number): void {
    if (!Number.isInteger(index) || index <= this.applied) {
      throw new Error(`ledger: entry ${index} skipped out of order (already applied up to ${this.applied})`);
    }
    this.applied = index;
  }

  private applyCommand(data: string): LedgerApplyResult {
    const command = decodeCommand(data);
    if ('error' in command) return command;
    switch (command.type) {
      case 'order':
        return this.applyOrder(command.order, command.ts);
      case 'orderBatch':
        // One entry, applied in order with nothing in between: each order sees the positions (and the seqs)
        // of the ones before it, a repeated id within the batch answers the first one's result, and since
        // applyOrder cannot fail, a batch that parsed is applied whole.
        return { results: command.orders.map((order) => this.applyOrder(order, command.ts)) };
      case 'setLimits':
        this.currentLimits = { ...this.currentLimits, ...definedOnly(command.limits) };
        return { ...this.currentLimits };
      case 'halt':
        this.haltState = { halted: true, reason: command.reason ?? null };
        return { ...this.haltState };
      case 'resume':
        this.haltState = { halted: false, reason: null };
        return { ...this.haltState };
      case 'cancel':
        return this.applyCancel(command.orderId, command.account);
    }
  }

  /**
   * The cancel race, decided by the log's order: an order applied before the cancel keeps its result (the cancel
   * answers it); otherwise a tombstone is recorded and the order, when it arrives, is CANCELED instead of executed.
   * Idempotent: a repeated cancel answers the same status. A cancel naming another account than the order's (or
   * than an earlier cancel's) is refused and changes nothing: accounts cannot cancel each other's orders.
   */
  private applyCancel(orderId: string, account: string): CancelResult | CommandError {
    const applied = this.getOrder(orderId);
    if (applied) {
      if (applied.account !== account) return { error: `order ${orderId} belongs to another account` };
      const duplicate = applied.status === 'CANCELED';
      return { orderId, account, status: applied.status, pending: false, duplicate };
    }
    const tombstone = this.cancelOf(orderId);
    if (tombstone !== undefined) {
      if (tombstone !== account) return { error: `order ${orderId} was canceled by another account` };
      return { orderId, account, status: 'CANCELED', pending: true, duplicate: true };
    }
    this.pendingCancels.set(orderId, account);
    this.anyCancels = true;
    return { orderId, account, status: 'CANCELED', pending: true, duplicate: false };
  }

  /** The account whose cancel waits for the order id, or undefined. */
  private cancelOf(orderId: string): string | undefined {
    if (!this.anyCancels) return undefined;
    return this.pendingCancels.get(orderId) ?? this.store.getCancel(orderId);
  }

  /** `ts`: the entry's proposal time, kept as the result's executedTs (a repeat answers the first one's). */
  private applyOrder(order: Order, ts: number | undefined): OrderResult {
    const first = this.pending.get(order.orderId) ?? this.store.getOrder(order.orderId);
    if (first) return { ...first, duplicate: true };

    const current = this.positionOf(order.account, order.symbol);
    const canceled = this.cancelOf(order.orderId) === order.account;
    const reason = canceled
      ? CANCELED_REASON
      : checkRisk(order, {
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
      result = { ...base, status: canceled ? 'CANCELED' : 'REJECTED', reason, position: current };
    }
    if (ts !== undefined) result.executedTs = ts;
    this.pending.set(order.orderId, result);
    return { ...result };
  }

  private positionOf(account: string, symbol: string): number {
    return this.positionBook.get(account)?.get(symbol) ?? 0;
  }

  private setPosition(account: string, symbol: string, quantity: number, changed = true): void {
    if (changed) this.changedPositions.set(`${account}\u0000${symbol}`, { account, symbol, quantity });
    let bySymbol = this.positionBook.get(account);
    if (!bySymbol) {
      bySymbol = new Map();
      this.positionBook.set(account, bySymbol);
    }
    bySymbol.set(symbol, quantity);
  }

  /** The recorded result (duplicate: false), or undefined for an order id never applied. */
  getOrder(orderId: string): OrderResult | undefined {
    const pending = this.pending.get(orderId);
    return pending ? { ...pending } : this.store.getOrder(orderId);
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
   * identical ledger. Flushes first; the ledger must not change while the generator runs.
   */
  *snapshotRecords(maxRecordBytes = DEFAULT_SNAPSHOT_RECORD_BYTES): Generator<string> {
    this.flush();
    const positionCount = [...this.positionBook.values()].reduce((n, bySymbol) => n + bySymbol.size, 0);
    yield JSON.stringify({
      kind: 'ledger',
      version: SNAPSHOT_VERSION,
      appliedIndex: this.applied,
      lastSeq: this.seq,
      limits: { ...this.currentLimits },
      halted: this.haltState.halted,
      haltReason: this.haltState.reason,
      orders: this.store.orderCount(),
      positions: positionCount,
      cancels: this.store.cancelCount(),
    } satisfies z.input<typeof LedgerHeadSchema>);
    const orders = (function* (stored: Iterable<OrderResult>) {
      for (const result of stored) yield JSON.stringify(recordedOrder(result));
    })(this.store.orders());
    yield* batchRecords('orders', orders, maxRecordBytes);
    const positions = (function* (book: Map<string, Map<string, number>>) {
      for (const [account, bySymbol] of book) {
        for (const [symbol, quantity] of bySymbol) yield JSON.stringify({ account, symbol, quantity });
      }
    })(this.positionBook);
    yield* batchRecords('positions', positions, maxRecordBytes);
    const cancels = (function* (stored: Iterable<CancelTombstone>) {
      for (const { orderId, account } of stored) yield JSON.stringify({ orderId, account });
    })(this.store.cancels());
    yield* batchRecords('cancels', cancels, maxRecordBytes);
  }

  /**
   * Rebuilds a ledger from the parsed records of snapshotRecords() into `store` (which must be empty), consuming them
   * one at a time; throws naming what is wrong when they are not a consistent snapshot (the store then holds part of
   * it: restore into a store the caller throws away on failure).
   */
  static restoreFrom(records: Iterable<unknown>, store: OrderStore = new MemoryOrderStore()): LedgerStateMachine {
    const iterator = records[Symbol.iterator]();
    const first = iterator.next();
    const head = LedgerHeadSchema.safeParse(first.done ? undefined : first.value);
    if (!head.success) throw new Error(`invalid ledger snapshot: first record: ${describeZodError(head.error)}`);
    if (store.load() !== undefined) throw new Error('restoreFrom: the target store is not empty');
    const ledger = new LedgerStateMachine(store);
    const seqs = new Set<number>();
    let positions = 0;
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      const parsed = LedgerBodySchema.safeParse(next.value);
      if (!parsed.success) throw new Error(`invalid ledger snapshot: ${describeZodError(parsed.error)}`);
      const record = parsed.data;
      if (record.kind === 'orders') {
        if (positions > 0) throw new Error('invalid ledger snapshot: orders after positions');
        for (const order of record.orders) ledger.restoreOrder(order, head.data.lastSeq, seqs);
      } else if (record.kind === 'cancels') {
        for (const tombstone of record.cancels) ledger.restoreCancel(tombstone);
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
    const { lastSeq, orders: orderCount, positions: positionCount, cancels: cancelCount } = head.data;
    ledger.applyCoreState({ ...head.data });
    ledger.flush();
    const counts = [store.orderCount(), positions, store.cancelCount()];
    if (counts[0] !== orderCount || counts[1] !== positionCount || counts[2] !== cancelCount) {
      throw new Error(
        `invalid ledger snapshot: ${counts[0]} orders, ${counts[1]} positions and ${counts[2]} cancels, but the head says ${orderCount}, ${positionCount} and ${cancelCount}`,
      );
    }
    if (seqs.size !== lastSeq) {
      throw new Error(`invalid ledger snapshot: ${seqs.size} accepted orders but lastSeq is ${lastSeq}`);
    }
    return ledger;
  }

  private restoreOrder(order: z.infer<typeof RecordedOrderSchema>, lastSeq: number, seqs: Set<number>): void {
    if (this.pending.has(order.orderId) || this.store.getOrder(order.orderId)) {
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
    this.pending.set(order.orderId, { ...order });
    if (this.pending.size >= AUTO_FLUSH_ORDERS) this.flush();
  }

  private restoreCancel({ orderId, account }: CancelTombstone): void {
    if (this.cancelOf(orderId) !== undefined) {
      throw new Error(`invalid ledger snapshot: the cancel of order ${orderId} appears twice`);
    }
    this.pendingCancels.set(orderId, account);
    this.anyCancels = true;
    if (this.pendingCancels.size >= AUTO_FLUSH_ORDERS) this.flush();
  }
}

/** Joins JSON items into `{"kind":…,"<kind>":[…]}` records of at most maxBytes UTF-8 bytes each. */
function* batchRecords(
  kind: 'orders' | 'positions' | 'cancels',
  items: Iterable<string>,
  maxBytes: number,
): Generator<string> {
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
  const { orderId, account, symbol, side, quantity, price, status, seq, reason, position, executedTs } = result;
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
    ...(executedTs !== undefined ? { executedTs } : {}),
  };
}

function definedOnly(patch: Partial<RiskLimits>): Partial<RiskLimits> {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}
