import * as z from 'zod';
import { OrderEventSchema } from '../domain/event';
import { AccountSchema, OrderIdSchema, SideSchema, SymbolSchema } from '../domain/order';
import { EnteredRequestSchema } from '../domain/user-order';
import { RiskLimitsPatchSchema, RiskLimitsSchema, RiskLimitsUpdateSchema } from '../ledger-contract';

/*
 * The HTTP API's contract, as zod: what each route answers (and the bodies the admin routes take, which had no home
 * outside their handler). The handlers type their answers with these (`satisfies z.infer<…>`), the OpenAPI document
 * (docs/openapi.json, tools/openapi.ts) is generated from them, and the request schemas are the ones the handlers
 * validate with (shared/domain) — one source for the code and the document. Pure: no I/O, no AWS SDK.
 */

// ---- errors ---------------------------------------------------------------------------------------------------

/** Every error body of the functions and of API Gateway itself. */
export const ErrorSchema = z.object({ message: z.string() }).meta({ id: 'Error' });

export const FieldErrorSchema = z
  .object({
    field: z.string().meta({ description: 'the field, parameter or `(body)`/`(query)` at fault' }),
    message: z.string(),
  })
  .meta({ id: 'FieldError' });

/** A 400 for bad input: every field at fault, each named. */
export const ValidationErrorSchema = z
  .object({ message: z.string(), errors: z.array(FieldErrorSchema).optional() })
  .meta({ id: 'ValidationError' });

/** POST /ticks' refusals (400 of the whole body) and partial failures (503). */
export const RejectedTickSchema = z
  .object({ index: z.number().int(), reason: z.string() })
  .meta({ id: 'RejectedTick', description: 'a tick of the request that was refused: its index in the body, why' });

// ---- POST /ticks ----------------------------------------------------------------------------------------------

const AcceptedTickSchema = z
  .object({
    index: z.number().int(),
    tickId: z.string(),
    correlationId: z.string(),
    shardId: z.string().optional(),
    sequenceNumber: z.string().optional(),
  })
  .meta({ id: 'AcceptedTick' });
const FailedTickSchema = z
  .object({ index: z.number().int(), tickId: z.string(), correlationId: z.string(), reason: z.string().optional() })
  .meta({ id: 'FailedTick' });

export const IngestAcceptedSchema = z
  .object({ accepted: z.array(AcceptedTickSchema), rejected: z.array(RejectedTickSchema) })
  .meta({ id: 'IngestAccepted' });
export const IngestRefusedSchema = z
  .object({ message: z.string(), rejected: z.array(RejectedTickSchema).optional() })
  .meta({ id: 'IngestRefused' });
export const IngestPartialSchema = z
  .object({
    message: z.string(),
    accepted: z.array(AcceptedTickSchema),
    rejected: z.array(RejectedTickSchema),
    failed: z.array(FailedTickSchema),
  })
  .meta({ id: 'IngestPartial' });

// ---- orders and positions (functions/api) ---------------------------------------------------------------------

const OrderStatusSchema = z.enum(['ACCEPTED', 'REJECTED', 'CANCELED']);

/** The ledger's record of an order (OrderResult). */
export const LedgerOrderSchema = z
  .object({
    orderId: z.string(),
    status: OrderStatusSchema,
    seq: z.number().int().optional(),
    reason: z.string().optional(),
    duplicate: z.boolean(),
    position: z.number(),
    account: z.string(),
    symbol: z.string(),
    side: SideSchema,
    quantity: z.number(),
    price: z.number(),
    /** When the ledger executed it (ms): the instant its leader stamped on the entry. Absent on older results. */
    executedTs: z.number().int().optional(),
  })
  .meta({ id: 'LedgerOrder' });

export const ExecutionRecordSchema = z
  .object({
    id: z.string(),
    orderId: z.string(),
    status: OrderStatusSchema,
    seq: z.number().int().nullable(),
    event: OrderEventSchema.meta({ id: 'OrderEvent' }),
    expiration: z.number().int(),
  })
  .meta({ id: 'ExecutionRecord' });

/** A client's order as entered (POST /orders, order.submit), before or whatever the ledger decides. */
export const OrderEntrySchema = z
  .object({
    clientOrderId: z.string(),
    request: EnteredRequestSchema,
    createdAt: z.number().int(),
  })
  .meta({ id: 'OrderEntry' });

export const GetOrderResponseSchema = z
  .object({
    orderId: z.string(),
    /** The ledger's decision in the API's words, else PENDING (entered, not decided yet) or EXPIRED (IOC). */
    status: z.enum(['PENDING', 'EXECUTED', 'REJECTED', 'CANCELED', 'EXPIRED']),
    order: LedgerOrderSchema.nullable(),
    execution: ExecutionRecordSchema.nullable(),
    entry: OrderEntrySchema.nullable(),
  })
  .meta({ id: 'GetOrderResponse' });

export const HistoryOrderSchema = z
  .object({
    account: AccountSchema,
    orderId: OrderIdSchema,
    symbol: SymbolSchema,
    side: SideSchema,
    qty: z.number(),
    price: z.number(),
    /** In the API's words: EXECUTED (an event's ACCEPTED), REJECTED, CANCELED — the history holds decided orders. */
    status: z.string(),
    reason: z.string().nullable(),
    seq: z.number().int().nullable(),
    createdTs: z.number().int(),
    updatedTs: z.number().int(),
    correlationId: z.string(),
  })
  .meta({ id: 'HistoryOrder' });

export const ListOrdersResponseSchema = z
  .object({ orders: z.array(HistoryOrderSchema), nextCursor: z.string().nullable() })
  .meta({ id: 'ListOrdersResponse' });

export const PositionsResponseSchema = z
  .object({
    positions: z.array(
      z.object({ account: z.string(), symbol: z.string(), quantity: z.number() }).meta({ id: 'Position' }),
    ),
  })
  .meta({ id: 'PositionsResponse' });

/** What both GET /health and GET /admin/cluster show of a reachable member (its own /v1/status). */
const MemberViewSchema = z.object({
  url: z.string(),
  nodeId: z.string(),
  role: z.enum(['leader', 'follower', 'candidate', 'pre-candidate', 'learner']),
  term: z.number().int(),
  commitIndex: z.number().int(),
});

export const HealthResponseSchema = z
  .object({
    status: z.enum(['ok', 'degraded']),
    leader: z.string().nullable(),
    members: z.array(
      z.union([
        MemberViewSchema.extend({ leaderId: z.string().nullable() }),
        z.object({ url: z.string(), error: z.string() }),
      ]),
    ),
  })
  .meta({ id: 'HealthResponse' });

// ---- order entry (functions/orders) ---------------------------------------------------------------------------

export const OrderPendingSchema = z
  .object({ orderId: z.string(), status: z.literal('PENDING') })
  .meta({ id: 'OrderPending' });
export const OrderExpiredSchema = z
  .object({ orderId: z.string(), status: z.literal('EXPIRED'), reason: z.string() })
  .meta({ id: 'OrderExpired' });
export const ClientOrderConflictSchema = z
  .object({ message: z.string(), orderId: z.string(), conflicts: z.array(z.string()) })
  .meta({ id: 'ClientOrderConflict', description: 'the clientOrderId was used for another order' });
export const RateLimitedSchema = z
  .object({ message: z.string(), retryAfterSeconds: z.number().int() })
  .meta({ id: 'RateLimited' });
export const OrderCanceledSchema = z
  .object({ orderId: z.string(), status: z.literal('CANCELED') })
  .meta({ id: 'OrderCanceled' });
export const CancelRefusedSchema = z
  .object({
    orderId: z.string(),
    status: z.enum(['EXECUTED', 'REJECTED', 'EXPIRED']),
    reason: z.string().optional(),
  })
  .meta({ id: 'CancelRefused', description: 'the order reached the ledger first, or expired at entry' });

// ---- operator controls (functions/admin) ----------------------------------------------------------------------

const reasonField = z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters');
/** POST /admin/halt's body. */
export const HaltBodySchema = z.object({ reason: reasonField }).strict().meta({ id: 'HaltBody' });
/** POST /admin/resume's body. */
export const ResumeBodySchema = z.object({ reason: reasonField.optional() }).strict().meta({ id: 'ResumeBody' });
/** PUT /admin/limits' body: the ledger's risk-limits patch (shared/ledger-contract), plus why; at least one limit. */
export const LimitsBodySchema = RiskLimitsPatchSchema.extend({ reason: reasonField.optional() })
  .strict()
  .refine(({ reason: _reason, ...limits }) => RiskLimitsUpdateSchema.safeParse(limits).success, {
    message: 'give at least one of maxOrderQuantity, maxOrderNotional, maxAbsPosition, minPrice, minOrderNotional',
  })
  .meta({ id: 'LimitsBody' });

export const HaltStateSchema = z
  .object({ halted: z.boolean(), haltReason: z.string().nullable() })
  .meta({ id: 'HaltState' });
export const RiskLimitsResponseSchema = RiskLimitsSchema.meta({ id: 'RiskLimits' });

export const ClusterResponseSchema = z
  .object({
    leader: z.string().nullable(),
    term: z.number().int().nullable(),
    commitIndex: z.number().int().nullable(),
    halted: z.boolean().nullable(),
    haltReason: z.string().nullable(),
    members: z.array(
      z.union([
        MemberViewSchema.extend({
          appliedIndex: z.number().int(),
          lastLogIndex: z.number().int(),
          halted: z.boolean(),
          lag: z.number().int().nullable(),
          healthy: z.literal(true),
        }),
        z.object({ url: z.string(), healthy: z.literal(false), error: z.string() }),
      ]),
    ),
    /** Each watched queue's depths (shared/aws/queues.ts QueueReport); `waiting`/`inFlight` null for a DLQ-only entry. */
    queues: z.array(
      z.union([
        z.object({
          name: z.string(),
          waiting: z.number().int().nullable(),
          inFlight: z.number().int().nullable(),
          deadLetters: z.number().int(),
        }),
        z.object({ name: z.string(), error: z.string() }),
      ]),
    ),
  })
  .meta({ id: 'ClusterResponse' });

// ---- market data (functions/market-data-api) ------------------------------------------------------------------

export const TicksResponseSchema = z
  .object({
    symbol: z.string(),
    from: z.number().int(),
    to: z.number().int(),
    ticks: z.array(
      z
        .object({ tickId: z.string(), ts: z.number().int(), price: z.number(), size: z.number() })
        .meta({ id: 'StoredTick' }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'TicksResponse' });

export const CandlesResponseSchema = z
  .object({
    symbol: z.string(),
    interval: z.enum(['1m', '5m', '1h']),
    from: z.number().int(),
    to: z.number().int(),
    candles: z.array(
      z
        .object({
          start: z.number().int(),
          open: z.number(),
          high: z.number(),
          low: z.number(),
          close: z.number(),
          volume: z.number(),
          count: z.number().int(),
          openTs: z.number().int(),
          closeTs: z.number().int(),
        })
        .meta({ id: 'Candle' }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: 'CandlesResponse' });

export type ErrorBody = z.infer<typeof ErrorSchema>;
export type ValidationErrorBody = z.infer<typeof ValidationErrorSchema>;
export type IngestAccepted = z.infer<typeof IngestAcceptedSchema>;
export type IngestPartial = z.infer<typeof IngestPartialSchema>;
export type GetOrderResponse = z.infer<typeof GetOrderResponseSchema>;
export type ListOrdersResponse = z.infer<typeof ListOrdersResponseSchema>;
export type PositionsResponse = z.infer<typeof PositionsResponseSchema>;
export type HealthResponse = z.infer<typeof HealthResponseSchema>;
export type ClusterResponse = z.infer<typeof ClusterResponseSchema>;
export type HaltState = z.infer<typeof HaltStateSchema>;
export type TicksResponse = z.infer<typeof TicksResponseSchema>;
export type CandlesResponse = z.infer<typeof CandlesResponseSchema>;
