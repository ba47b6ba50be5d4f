import * as z from 'zod';

/**
 * An order as the ledger applies it. Shared by the pipeline (process emits them, execute applies them)
 * and the Raft ledger (its state machine and HTTP API validate with the same schema).
 */
export const SideSchema = z.enum(['BUY', 'SELL']);
export type Side = z.infer<typeof SideSchema>;

/** `.` and `..` are path segments: in a URL (GET /v1/orders/..) they never reach the route, so such a record is unreadable. */
const notDotSegment = (field: string) =>
  [/^(?!\.{1,2}$)/, `${field} must not be "." or ".." (they are URL path segments)`] as const;

/** The rules of an order, in one place: the zod schemas below and isValidOrder() both read them. */
const ID_CHARS = /^[A-Za-z0-9._:-]+$/;
const DOT_SEGMENT = /^\.{1,2}$/;
const SYMBOL_CHARS = /^[A-Z0-9][A-Z0-9.\-/]*$/;
const MAX_ORDER_ID = 128;
const MAX_ACCOUNT = 64;
const MAX_SYMBOL = 16;
const MAX_QUANTITY = 1_000_000_000;
const MAX_PRICE = 1e12;

/** Ids travel in URLs, FIFO deduplication ids (max 128 chars) and DynamoDB keys: keep them to a safe alphabet. */
export const OrderIdSchema = z
  .string()
  .min(1)
  .max(MAX_ORDER_ID)
  .regex(ID_CHARS, 'orderId may contain only letters, digits and . _ : -')
  .regex(...notDotSegment('orderId'));

/**
 * A symbol as the ledger has always stored it. The ledger's own log replay validates with this, so it must keep
 * accepting what was once accepted; new input goes through CanonicalSymbolSchema (risk limits are per symbol, and
 * `aapl`, ` AAPL` and `AAPL.` must not be three symbols).
 */
export const SymbolSchema = z
  .string()
  .min(1)
  .max(MAX_SYMBOL)
  .regex(SYMBOL_CHARS, 'symbol must be upper-case letters, digits, . - or /');

/** The canonical form: upper-case letters and digits, with . - / only between them (BRK.B, BTC/USD, ES-Z5). */
const CANONICAL_SYMBOL = /^[A-Z0-9](?:[A-Z0-9.\-/]*[A-Z0-9])?$/;

/** Trims, upper-cases and drops trailing punctuation: ` aapl. ` → `AAPL`. */
export function normalizeSymbol(raw: string): string {
  return raw
    .trim()
    .toUpperCase()
    .replace(/[.\-/]+$/, '');
}

/** Strict: only the canonical form (for data the system itself produces, e.g. ticks). */
export const CanonicalSymbolSchema = SymbolSchema.regex(
  CANONICAL_SYMBOL,
  'symbol must start and end with an upper-case letter or digit, with only . - / between',
);

/** Lenient at the edge: normalises first, then requires the canonical form. */
export const SymbolInputSchema = z.string().transform(normalizeSymbol).pipe(CanonicalSymbolSchema);

export const AccountSchema = z
  .string()
  .min(1)
  .max(MAX_ACCOUNT)
  .regex(ID_CHARS, 'account may contain only letters, digits and . _ : -')
  .regex(...notDotSegment('account'));

export const OrderSchema = z
  .object({
    orderId: OrderIdSchema,
    account: AccountSchema,
    symbol: SymbolSchema,
    side: SideSchema,
    quantity: z.number().int().positive().max(MAX_QUANTITY),
    price: z.number().positive().finite().max(MAX_PRICE),
  })
  .strict();
export type Order = z.infer<typeof OrderSchema>;

const ORDER_KEYS = 6;
const idOk = (v: unknown, max: number): boolean =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && ID_CHARS.test(v) && !DOT_SEGMENT.test(v);

/**
 * Exactly OrderSchema's verdict (a property test holds them equal), without building zod's result and issue
 * objects: the ledger judges every order of every entry it applies, on every node, so this is its hot path. Use
 * the schema where the reason for a refusal is wanted.
 */
export function isValidOrder(v: unknown): v is Order {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  let keys = 0;
  for (const key in o) if (Object.prototype.hasOwnProperty.call(o, key)) keys++;
  const { symbol, quantity, price } = o;
  return (
    keys === ORDER_KEYS &&
    idOk(o.orderId, MAX_ORDER_ID) &&
    idOk(o.account, MAX_ACCOUNT) &&
    typeof symbol === 'string' &&
    symbol.length >= 1 &&
    symbol.length <= MAX_SYMBOL &&
    SYMBOL_CHARS.test(symbol) &&
    (o.side === 'BUY' || o.side === 'SELL') &&
    typeof quantity === 'number' &&
    Number.isSafeInteger(quantity) &&
    quantity > 0 &&
    quantity <= MAX_QUANTITY &&
    typeof price === 'number' &&
    Number.isFinite(price) &&
    price > 0 &&
    price <= MAX_PRICE
  );
}

/**
 * Most orders in one batch (POST /v1/orders/batch). A batch is one Raft log entry, so this bounds an entry:
 * 500 orders of at most ~320 bytes of compact JSON each is ~160 KB.
 */
export const MAX_BATCH_ORDERS = 500;

/** The body of POST /v1/orders/batch: orders applied atomically, in this order, in one log entry. */
export const OrderBatchSchema = z.object({ orders: z.array(OrderSchema).min(1).max(MAX_BATCH_ORDERS) }).strict();
export type OrderBatch = z.infer<typeof OrderBatchSchema>;

/** An order as a client sends it (POST /v1/orders): the symbol is normalised once, here, at the edge. */
export const OrderInputSchema = OrderSchema.extend({ symbol: SymbolInputSchema });

/** A batch as a client sends it (POST /v1/orders/batch): every order's symbol normalised like a single order's. */
export const OrderBatchInputSchema = OrderBatchSchema.extend({
  orders: z.array(OrderInputSchema).min(1).max(MAX_BATCH_ORDERS),
});

/**
 * The ledger's statuses. ACCEPTED is the ledger's word for an executed order (the public API and the events call it
 * EXECUTED: publicStatus below); it stays ACCEPTED here because stored results, snapshots and old clients carry it.
 * CANCELED: a cancel for the order id reached the ledger before the order did (the ledger's cancel command).
 */
export type OrderStatus = 'ACCEPTED' | 'REJECTED' | 'CANCELED';
export const ORDER_STATUSES: readonly OrderStatus[] = ['ACCEPTED', 'REJECTED', 'CANCELED'];

/** The status users see: the ledger's ACCEPTED is EXECUTED; the others (PENDING, EXPIRED too) are the same words. */
export type PublicOrderStatus = 'EXECUTED' | 'REJECTED' | 'CANCELED';
export function publicStatus<S extends string>(status: S): Exclude<S, 'ACCEPTED'> | 'EXECUTED' {
  return status === 'ACCEPTED' ? 'EXECUTED' : (status as Exclude<S, 'ACCEPTED'>);
}

/** The reason a canceled order's result carries. */
export const CANCELED_REASON = 'canceled before it reached the ledger';

/** The ledger's cancel command (POST /v1/orders/cancel): cancel `orderId` of `account` unless it was applied first. */
export const CancelRequestSchema = z.object({ orderId: OrderIdSchema, account: AccountSchema }).strict();
export type CancelRequest = z.infer<typeof CancelRequestSchema>;

/**
 * The ledger's answer to a cancel. status CANCELED: the order is canceled — either it arrived before and was canceled
 * (pending: false), or it has not arrived yet and a tombstone waits for it (pending: true): when it arrives it is not
 * executed and its result is CANCELED. ACCEPTED / REJECTED: the order was applied first; the cancel changed nothing.
 * duplicate: this cancel had been recorded before (a retried cancel gets the same status).
 */
export interface CancelResult {
  orderId: string;
  account: string;
  status: OrderStatus;
  pending: boolean;
  duplicate: boolean;
}

/** What the ledger recorded for an order; a repeat of the same orderId returns it with `duplicate: true`. */
export interface OrderResult {
  orderId: string;
  status: OrderStatus;
  /** Global sequence number, accepted orders only: 1, 2, 3 … with no gaps. */
  seq?: number;
  /** Why it was rejected, rejected orders only. */
  reason?: string;
  duplicate: boolean;
  /** The account's position in the symbol after this order (unchanged when rejected). */
  position: number;
  account: string;
  symbol: string;
  side: Side;
  quantity: number;
  price: number;
  /**
   * When the order was executed: the leader's clock (ms) when it proposed the log entry that applied the order, so
   * every replica and every repeat answers the same instant, and the order's event can be built from the result
   * alone (execute publishes it without waiting for its record: docs/architecture.md). Absent on results applied
   * by a ledger before it stamped its entries.
   */
  executedTs?: number;
}

/** The answer to a batch: one result per order, in the order of the request (results[i] is orders[i]'s). */
export interface OrderBatchResult {
  results: OrderResult[];
}

/** Formats the first zod issue as "field: message", so an error names what is wrong. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

/**
 * An order that OrderInputSchema would pass through unchanged (valid, its symbol already canonical): what a
 * well-behaved client always sends. The node's edge takes such an order as it is and runs the schema only for the
 * rest (to normalise the symbol, or to say what is wrong). A property test holds the two equal.
 */
export function isCanonicalOrder(v: unknown): v is Order {
  return isValidOrder(v) && CANONICAL_SYMBOL.test(v.symbol);
}
