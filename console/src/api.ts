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

export interface Candle {
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
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
    if (!res.ok) throw new ApiError(res.status, String(parsed.message ?? `HTTP ${res.status}`));
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
    const page = await this.call<{ candles: (Omit<Candle, 'time'> & { start: number })[] }>(
      'GET',
      `/candles?${q.toString()}`,
    );
    return { candles: page.candles.map(({ start, ...c }) => ({ ...c, time: start / 1000 })) };
  }

  orders(): Promise<{ orders: OrderView[] }> {
    return this.call('GET', `/orders?${new URLSearchParams({ account: this.session.account, limit: '50' })}`);
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
    return this.call('GET', '/admin/cluster');
  }

  halt(reason: string): Promise<unknown> {
    return this.call('POST', '/admin/halt', { reason });
  }

  resume(reason: string): Promise<unknown> {
    return this.call('POST', '/admin/resume', { reason });
  }
}
