import type { Session } from './auth';
import type { ConsoleConfig } from './config';

export type LiveMessage = { type: string; seq?: number } & Record<string, unknown>;

/**
 * The WebSocket stream: subscribes to prices of the shown symbol and to the user's own orders, reconnects with
 * back-off, reports itself live once the orders subscription is confirmed, and follows the delivery rule of docs/api.md: an order update at or below the last seq seen is a
 * duplicate (dropped); one past the next is a gap, and the stream asks to `resume` from the last seq — as it does
 * after a reconnect — until the server says it has replayed everything (`resumed` without `more`).
 */
export class LiveStream {
  private socket: WebSocket | undefined;
  private lastSeq = 0;
  /** A resume is outstanding: further gaps wait for its answer instead of asking again. */
  private resuming = false;
  private symbols: string[] = [];
  private retryMs = 500;
  private closed = false;

  constructor(
    private readonly config: ConsoleConfig,
    private readonly session: Session,
    private readonly onMessage: (m: LiveMessage) => void,
    private readonly onState: (state: 'live' | 'offline') => void,
  ) {}

  start(symbols: string[]): void {
    this.symbols = symbols;
    this.open();
  }

  watch(symbols: string[]): void {
    const previous = this.symbols;
    this.symbols = symbols;
    this.send({ action: 'unsubscribe', channel: 'prices', symbols: previous });
    this.send({ action: 'subscribe', channel: 'prices', symbols });
  }

  stop(): void {
    this.closed = true;
    this.socket?.close();
  }

  private open(): void {
    const url = `${this.config.webSocketUrl}?token=${encodeURIComponent(this.session.idToken)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onopen = () => {
      this.retryMs = 500;
      this.resuming = false;
      this.send({ action: 'subscribe', channel: 'prices', symbols: this.symbols });
      this.send({ action: 'subscribe', channel: 'orders' });
    };
    socket.onmessage = (e) => this.receive(JSON.parse(String(e.data)) as LiveMessage);
    socket.onclose = () => {
      this.onState('offline');
      if (this.closed) return;
      setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }

  private receive(message: LiveMessage): void {
    if (message.type === 'subscribed' && message.channel === 'orders') {
      // Live only once the server holds the subscription: each message is its own invocation, so an update
      // published before this point may not have reached this connection. The owner re-reads its snapshot now
      // (subscribe, then snapshot), and after a reconnect the missed updates are asked for from here.
      this.onState('live');
      if (this.lastSeq > 0) this.resume();
      return;
    }
    if (message.type === 'resumed') {
      this.resuming = false;
      this.lastSeq = Math.max(this.lastSeq, Number(message.through) || 0);
      if (message.more === true) this.resume();
      return;
    }
    if (message.type === 'order.update' && typeof message.seq === 'number') {
      if (message.seq <= this.lastSeq) return; // already seen (at-least-once delivery)
      if (this.lastSeq > 0 && message.seq > this.lastSeq + 1) {
        // A gap: shown now (the blotter keys rows by order id), and the missing ones asked for.
        if (!this.resuming) this.resume();
        return this.onMessage(message);
      }
      this.lastSeq = message.seq;
    }
    this.onMessage(message);
  }

  private resume(): void {
    this.resuming = true;
    this.send({ action: 'resume', since: this.lastSeq });
  }

  private send(message: unknown): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
