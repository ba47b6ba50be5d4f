import type { Session } from './auth';
import type { ConsoleConfig } from './config';

export type LiveMessage = { type: string; seq?: number } & Record<string, unknown>;

/**
 * The WebSocket stream: subscribes to prices of the shown symbol and to the user's own orders, reconnects with
 * back-off, and after a reconnect asks for what it missed since the last order sequence number it saw.
 */
export class LiveStream {
  private socket: WebSocket | undefined;
  private lastSeq = 0;
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
      this.onState('live');
      this.send({ action: 'subscribe', channel: 'prices', symbols: this.symbols });
      this.send({ action: 'subscribe', channel: 'orders' });
      if (this.lastSeq > 0) this.send({ action: 'resume', since: this.lastSeq });
    };
    socket.onmessage = (e) => {
      const message = JSON.parse(String(e.data)) as LiveMessage;
      if (typeof message.seq === 'number') {
        if (message.seq <= this.lastSeq) return; // already seen (at-least-once delivery)
        this.lastSeq = message.seq;
      }
      this.onMessage(message);
    };
    socket.onclose = () => {
      this.onState('offline');
      if (this.closed) return;
      setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
    };
  }

  private send(message: unknown): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }
}
