import type { PublicCandle } from '../../shared/domain/candle';
import type { Session } from './auth';
import type { ConsoleConfig } from './config';

/** One row of the blotter: what GET /orders and the live order updates carry. */
export interface OrderView {
  orderId: string;
  clientOrderId?: string;
  symbol: string;
  side: string;
  quantity: number;
  price?: number;
  status: string;
  reason?: string;
  time: string;
}

/** A candle as GET /candles answers it (`start`: the bucket's start, epoch ms) — the API's own type. */
export type Candle = PublicCandle;

type Raw = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** An order as GET /orders lists it (`qty`, `createdTs`) or as an order event carries it (`quantity`, `executedTs`). */
export function toOrderView(raw: Raw): OrderView {
  const ts = num(raw.updatedTs) ?? num(raw.executedTs) ?? num(raw.createdTs) ?? Date.now();
  return {
    orderId: String(raw.orderId),
    ...(typeof raw.clientOrderId === 'string' ? { clientOrderId: raw.clientOrderId } : {}),
    symbol: String(raw.symbol ?? ''),
    side: String(raw.side ?? ''),
    quantity: num(raw.qty) ?? num(raw.quantity) ?? 0,
    ...(num(raw.price) === undefined ? {} : { price: num(raw.price) }),
    // The ledger says ACCEPTED for an order it executed; the API's word for it is EXECUTED.
    status: raw.status === 'ACCEPTED' ? 'EXECUTED' : String(raw.status),
    ...(typeof raw.reason === 'string' ? { reason: raw.reason } : {}),
    time: new Date(ts).toISOString(),
  };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The public HTTP API, called with the signed-in user's ID token — no other way into the system. */
export class TradingApiClient {
  constructor(
    private readonly config: ConsoleConfig,
    private readonly session: Session,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.config.httpApiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.session.idToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!res.ok) throw new ApiError(res.status, String(parsed.message ?? `HTTP ${res.status}`), parsed);
    return parsed as T;
  }

  /** GET /candles answers bucket starts in epoch ms (`start`); the chart wants seconds (`time`). */
  async candles(symbol: string, interval: string, from: Date): Promise<{ candles: Candle[] }> {
    const q = new URLSearchParams({
      symbol,
      interval,
      from: from.toISOString(),
      to: new Date().toISOString(),
      limit: '1000',
    });
    // Up to 1,000 per page: the default page (100) would stop before the newest candles of a long range.
    return this.call('GET', `/candles?${q.toString()}`);
  }

  /** The caller's newest orders (GET /orders defaults to the caller's own account). */
  async orders(): Promise<OrderView[]> {
    const { orders } = await this.call<{ orders: Raw[] }>('GET', '/orders?limit=50');
    return orders.map(toOrderView);
  }

  positions(): Promise<{ positions: unknown }> {
    return this.call('GET', `/positions?${new URLSearchParams({ account: this.session.account })}`);
  }

  submit(order: Record<string, unknown>): Promise<{ orderId: string; status: string }> {
    return this.call('POST', '/orders', order);
  }

  cancel(orderId: string): Promise<{ status: string }> {
    return this.call('DELETE', `/orders/${encodeURIComponent(orderId)}`);
  }

  cluster(): Promise<unknown> {
    return this.call('GET', '/operator/cluster');
  }

  halt(reason: string): Promise<unknown> {
    return this.call('POST', '/operator/halt', { reason });
  }

  resume(reason: string): Promise<unknown> {
    return this.call('POST', '/operator/resume', { reason });
  }
}
