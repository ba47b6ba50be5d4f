import { z } from 'zod';
import {
  describeZodError,
  OrderSchema,
  type Order,
  type OrderBatchResult,
  type OrderResult,
} from '../../../shared/domain/order';
import { RiskLimitsSchema, type Position, type RiskLimits } from '../../../shared/ledger-contract';
import { LedgerCommandSchema, type LedgerCommand } from './commands';
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

const SNAPSHOT_FORMAT = 'raft-ledger';
const SNAPSHOT_VERSION = 1;

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

const LedgerSnapshotSchema = z
  .object({
    format: z.literal(SNAPSHOT_FORMAT),
    version: z.literal(SNAPSHOT_VERSION),
    appliedIndex: z.number().int().nonnegative(),
    lastSeq: z.number().int().nonnegative(),
    limits: SnapshotLimitsSchema,
    halted: z.boolean(),
    haltReason: z.string().nullable(),
    orders: z.array(RecordedOrderSchema),
    positions: z.array(
      z.object({ account: z.string().min(1), symbol: z.string().min(1), quantity: z.number().int() }).strict(),
    ),
  })
  .strict();
type LedgerSnapshot = z.infer<typeof LedgerSnapshotSchema>;

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
    const command = parseCommand(data);
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

  /** Serializes the whole state; restore(snapshot()) is an identical ledger. */
  snapshot(): string {
    const data: LedgerSnapshot = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      appliedIndex: this.applied,
      lastSeq: this.seq,
      limits: { ...this.currentLimits },
      halted: this.haltState.halted,
      haltReason: this.haltState.reason,
      orders: [...this.orders.values()].map(recordedOrder),
      positions: [...this.positionBook].flatMap(([account, bySymbol]) =>
        [...bySymbol].map(([symbol, quantity]) => ({ account, symbol, quantity })),
      ),
    };
    return JSON.stringify(data);
  }

  /** Rebuilds a ledger from snapshot(); throws naming what is wrong when the data is not a consistent snapshot. */
  static restore(data: string): LedgerStateMachine {
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch (error) {
      throw new Error(`ledger snapshot is not JSON: ${(error as Error).message}`);
    }
    const parsed = LedgerSnapshotSchema.safeParse(json);
    if (!parsed.success) throw new Error(`invalid ledger snapshot: ${describeZodError(parsed.error)}`);
    const snapshot = parsed.data;

    const ledger = new LedgerStateMachine();
    const seqs = new Set<number>();
    for (const order of snapshot.orders) {
      if (ledger.orders.has(order.orderId)) {
        throw new Error(`invalid ledger snapshot: order ${order.orderId} appears twice`);
      }
      if ((order.status === 'ACCEPTED') !== (order.seq !== undefined)) {
        throw new Error(
          `invalid ledger snapshot: order ${order.orderId} has a seq iff it is accepted, and it does not`,
        );
      }
      if (order.seq !== undefined) {
        if (order.seq > snapshot.lastSeq || seqs.has(order.seq)) {
          throw new Error(
            `invalid ledger snapshot: seq ${order.seq} of order ${order.orderId} is repeated or past lastSeq`,
          );
        }
        seqs.add(order.seq);
      }
      ledger.orders.set(order.orderId, { ...order });
    }
    if (seqs.size !== snapshot.lastSeq) {
      throw new Error(`invalid ledger snapshot: ${seqs.size} accepted orders but lastSeq is ${snapshot.lastSeq}`);
    }
    for (const { account, symbol, quantity } of snapshot.positions) {
      if (ledger.positionBook.get(account)?.has(symbol)) {
        throw new Error(`invalid ledger snapshot: position ${account}/${symbol} appears twice`);
      }
      ledger.setPosition(account, symbol, quantity);
    }
    ledger.currentLimits = snapshot.limits;
    ledger.haltState = { halted: snapshot.halted, reason: snapshot.haltReason };
    ledger.seq = snapshot.lastSeq;
    ledger.applied = snapshot.appliedIndex;
    return ledger;
  }
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

function parseCommand(data: string): LedgerCommand | CommandError {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { error: 'malformed command: entry data is not JSON' };
  }
  const parsed = LedgerCommandSchema.safeParse(json);
  return parsed.success ? parsed.data : { error: `malformed command: ${describeZodError(parsed.error)}` };
}
