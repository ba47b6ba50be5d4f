import { createHash } from 'node:crypto';
import * as z from 'zod';
import { AccountSchema, OrderIdSchema, SideSchema, SymbolInputSchema, type Order, type Side } from './order';

/**
 * Orders placed by people and services through POST /orders (functions/orders), as pure rules: the request's
 * schema, the order id derived from (account, clientOrderId), the price an order is filled at, and the comparison
 * that makes a repeated request idempotent. No I/O here.
 */

const MAX_QUANTITY = 1_000_000_000;
const MAX_PRICE = 1e12;

/** A client's own id for a request: what makes POST /orders idempotent. */
export const ClientOrderIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -');

/**
 * The body of POST /orders. `account` is only for IAM callers (services acting for an account); a user's account
 * comes from the token, and a user body naming one is refused (see accountFor). Limit orders are IOC.
 */
export const OrderRequestSchema = z
  .object({
    clientOrderId: ClientOrderIdSchema,
    symbol: SymbolInputSchema,
    side: SideSchema,
    type: z.enum(['market', 'limit']),
    quantity: z.number().int('must be a whole number').positive('must be positive').max(MAX_QUANTITY),
    limitPrice: z.number().positive('must be positive').finite().max(MAX_PRICE).optional(),
    account: AccountSchema.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const problem = limitPriceProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', path: ['limitPrice'], message: problem });
  });
export type OrderRequest = z.infer<typeof OrderRequestSchema>;

/** Whether limitPrice fits the type: required for a limit order, refused for a market one. */
function limitPriceProblem(v: { type?: unknown; limitPrice?: unknown }): string | undefined {
  if (v.type === 'limit' && v.limitPrice === undefined) return 'is required for a limit order';
  if (v.type === 'market' && v.limitPrice !== undefined) return 'must not be given for a market order';
  return undefined;
}

/**
 * The request, or every bad field. zod skips an object's refinement once a field failed, so the limitPrice rule is
 * also judged on the raw body then: a request with several problems gets all of them named at once.
 */
export function parseOrderRequest(
  raw: unknown,
): { ok: true; value: OrderRequest } | { ok: false; errors: FieldError[] } {
  const parsed = OrderRequestSchema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors = fieldErrors(parsed.error);
  const problem = typeof raw === 'object' && raw !== null ? limitPriceProblem(raw) : undefined;
  if (problem && !errors.some((e) => e.field === 'limitPrice')) errors.push({ field: 'limitPrice', message: problem });
  return { ok: false, errors };
}

/** One bad field of a request, for a 400's `errors` list. */
export interface FieldError {
  field: string;
  message: string;
}

/** Every issue of a zod error, one per field (the first message of each). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const byField = new Map<string, string>();
  for (const issue of error.issues) {
    const field = issue.path.length > 0 ? issue.path.join('.') : '(body)';
    if (!byField.has(field)) byField.set(field, issue.message);
  }
  return [...byField].map(([field, message]) => ({ field, message }));
}

/**
 * The order id of a client order: a hash of (account, clientOrderId), so the same request always names the same
 * order and two accounts' ids never meet. A hash rather than the two joined: accounts may contain ':' (the join would
 * not split back), and the id must fit the ledger's 128-character, URL-safe alphabet.
 */
export function deriveClientOrderId(account: string, clientOrderId: string): string {
  const digest = createHash('sha256').update(`${account}\u0000${clientOrderId}`).digest('hex');
  return OrderIdSchema.parse(`u-${digest.slice(0, 40)}`);
}

/**
 * The price the order is filled at, or why it cannot be filled. The reference is the symbol's last traded price
 * when the order is entered (what process last saw on the tick stream), the same kind of price strategy orders carry
 * (their tick's): the ledger's risk checks judge the order at it. A market order fills at it; an IOC limit order
 * fills at it if it is at or better than the limit (BUY: last ≤ limit, SELL: last ≥ limit), else it expires at once —
 * there is no book to rest in, so "immediate or cancel" against the last price is the simplest rule that is correct.
 */
export type Pricing = { ok: true; price: number } | { ok: false; reason: string };

export function priceOrder(
  request: Pick<OrderRequest, 'type' | 'side' | 'limitPrice' | 'symbol'>,
  last: number | undefined,
): Pricing {
  if (last === undefined) return { ok: false, reason: `no price is known for ${request.symbol} yet` };
  if (request.type === 'market') return { ok: true, price: last };
  const limit = request.limitPrice!;
  const marketable = request.side === 'BUY' ? last <= limit : last >= limit;
  return marketable
    ? { ok: true, price: last }
    : {
        ok: false,
        reason: `IOC limit ${request.side} at ${limit} cannot execute at the last price ${last} of ${request.symbol}`,
      };
}

/** The order the ledger gets. */
export function userOrder(orderId: string, account: string, request: OrderRequest, price: number): Order {
  return { orderId, account, symbol: request.symbol, side: request.side as Side, quantity: request.quantity, price };
}

/** What identifies a request's content: two requests with the same clientOrderId must agree on all of it. */
export type RequestFingerprint = Pick<OrderRequest, 'symbol' | 'side' | 'type' | 'quantity'> & {
  limitPrice: number | null;
};

export function fingerprint(request: OrderRequest): RequestFingerprint {
  const { symbol, side, type, quantity } = request;
  return { symbol, side, type, quantity, limitPrice: request.limitPrice ?? null };
}

/** The fields in which a repeated request differs from the first one (empty: the same request). */
export function requestConflicts(first: RequestFingerprint, again: RequestFingerprint): string[] {
  return (Object.keys(first) as (keyof RequestFingerprint)[]).filter((k) => first[k] !== again[k]);
}

/** An entered order's request as order entry records it (and GET /orders/{orderId} shows it): no limit price → null. */
export const EnteredRequestSchema = z.object({
  symbol: z.string(),
  side: SideSchema,
  type: z.enum(['market', 'limit']),
  quantity: z.number(),
  limitPrice: z.number().nullable(),
});
