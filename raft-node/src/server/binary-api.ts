import { createServer, type Server, type Socket } from 'node:net';
import type { z } from 'zod';
import {
  CancelRequestSchema,
  describeZodError,
  isCanonicalOrder,
  MAX_BATCH_ORDERS,
  OrderBatchInputSchema,
  OrderIdSchema,
  OrderInputSchema,
  type CancelResult,
  type OrderResult,
} from '../../../shared/domain/order';
import type { Scope, TokenVerifier } from '../../../shared/ledger-contract/auth';
import { CoalescingWriter, FrameDecoder, NO_FRAME } from '../../../shared/ledger-contract/framing';
import {
  decodeRequest,
  encodeReply,
  Kind,
  WireError,
  type ReplyBody,
  type WireReply,
  type WireRequest,
} from '../../../shared/ledger-contract/wire';
import type { HttpLimits } from '../config';
import type { NodeLogger } from '../logger';
import { ConnectionGate } from './connection-gate';
import type { LedgerNodeApi, Outcome } from './http-api';
import { trace } from '../trace';

/**
 * The binary client protocol's listener (wire.ts has the message layout): the hot path for orders and order reads,
 * beside the HTTP/JSON API that stays for people, curl and health checks. A client keeps a few persistent
 * connections and pipelines many requests on each; replies carry the request id and may come back in any order.
 *
 * The same protections as the HTTP API, with its limits (RAFT_HTTP_*): a ConnectionGate capping connections per
 * listener and per address, a deadline for the first message (HELLO, which must authenticate), frames of at most
 * PRE_AUTH_FRAME_BYTES until then, an idle timeout (the keep-alive one). A frame that does not decode is answered
 * with an ERROR naming what is wrong, and the connection is closed: after a bad frame nothing later on the stream
 * can be trusted to be aligned.
 *
 * Back-pressure: replies written in one tick are coalesced into one socket write; while more than
 * MAX_UNSENT_BYTES of replies wait in the socket, or MAX_PENDING requests are in progress, the connection stops
 * reading, so a client that sends faster than it reads is slowed by TCP instead of growing this process.
 */

const PRE_AUTH_FRAME_BYTES = 4 * 1024;
/** A batch of MAX_BATCH_ORDERS orders of up to 512 bytes each, as the HTTP API's batch body cap. */
export const MAX_REQUEST_FRAME_BYTES = 512 * MAX_BATCH_ORDERS + 64;
const MAX_UNSENT_BYTES = 1024 * 1024;
const MAX_PENDING = 4_096;

export interface BinaryApiOptions {
  node: LedgerNodeApi;
  verifier?: TokenVerifier;
  logger: NodeLogger;
  limits: HttpLimits;
}

export interface BinaryApi {
  server: Server;
  /** Stops listening and closes every client connection (their requests in progress are answered by nobody). */
  close(): Promise<void>;
}

export function createBinaryApi(opts: BinaryApiOptions): BinaryApi {
  const gate = new ConnectionGate('client', opts.limits, opts.logger);
  const server = createServer({ noDelay: true });
  const sockets = new Set<Socket>();
  gate.attach(server);
  server.on('connection', (socket: Socket) => {
    if (socket.destroyed) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new ClientConnection(socket, opts, gate.deadline(socket));
  });
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return { server, close };
}

/**
 * A result as the request asked for it: with executedTs for a stamped request, without for the kinds from before
 * the stamp (their clients cannot read it: shared/ledger-contract/wire.ts).
 */
function asAsked(result: OrderResult, stamped: boolean | undefined): OrderResult {
  if (stamped || result.executedTs === undefined) return result;
  const { executedTs: _omitted, ...unstamped } = result;
  return unstamped;
}

/** 400 with the zod issues named, or the parsed value. */
function validate<T>(schema: z.ZodType<T>, value: unknown): { ok: true; value: T } | { ok: false; error: string } {
  const r = schema.safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: describeZodError(r.error) };
}

function outcomeReply<T>(id: number, outcome: Outcome<T>, body: (v: T) => ReplyBody): WireReply {
  switch (outcome.kind) {
    case 'ok':
      return { kind: Kind.REPLY, id, status: 200, body: body(outcome.value) };
    case 'not-leader':
      return outcome.leaderUrl
        ? { kind: Kind.REPLY, id, status: 307, leader: outcome.leaderUrl }
        : { kind: Kind.REPLY, id, status: 503, error: 'no leader known; retry shortly' };
    case 'unavailable':
      return { kind: Kind.REPLY, id, status: 503, error: outcome.reason };
    case 'conflict':
      return { kind: Kind.REPLY, id, status: 409, error: outcome.reason };
    case 'not-found':
      return { kind: Kind.REPLY, id, status: 404, error: 'not found' };
  }
}

class ClientConnection {
  private readonly decoder = new FrameDecoder(PRE_AUTH_FRAME_BYTES);
  /** The newest HELLO's bearer header; undefined until the first HELLO was accepted. */
  private authorization: string | undefined;
  private readonly writer = new CoalescingWriter(
    (data) => this.flush(data),
    () => !this.closed,
  );
  private pending = 0;
  private paused = false;
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly opts: BinaryApiOptions,
    private readonly authenticated: () => void,
  ) {
    socket.setTimeout(opts.limits.keepAliveTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('error', () => socket.destroy());
    socket.once('close', () => (this.closed = true));
  }

  private onData(chunk: Buffer): void {
    this.decoder.append(chunk);
    try {
      for (let body = this.decoder.nextRaw(); body !== NO_FRAME; body = this.decoder.nextRaw()) {
        this.handle(decodeRequest(body));
        if (this.closed) return;
      }
    } catch (err) {
      const why = err instanceof WireError || err instanceof Error ? err.message : String(err);
      this.fatal(`malformed frame: ${why}`);
    }
  }

  /** Answers ERROR and closes: used when the stream itself cannot be trusted any more. */
  private fatal(error: string): void {
    this.closed = true;
    this.socket.end(encodeReply({ kind: Kind.ERROR, id: 0, error }));
    this.socket.destroySoon();
  }

  private handle(req: WireRequest): void {
    if (req.kind === Kind.HELLO) return this.hello(req.id, req.authorization);
    if (this.authorization === undefined) return this.fatal('the first message must be HELLO (authentication)');
    switch (req.kind) {
      case Kind.APPLY_ORDER: {
        trace('api.req');
        if (!this.allowed(req.id, 'orders:write')) return;
        const order = isCanonicalOrder(req.order)
          ? { ok: true as const, value: req.order }
          : validate(OrderInputSchema, req.order);
        if (!order.ok) return this.send({ kind: Kind.REPLY, id: req.id, status: 400, error: order.error });
        return this.run(req.id, this.opts.node.applyOrder(order.value), (r: OrderResult) => asAsked(r, req.stamped));
      }
      case Kind.APPLY_BATCH: {
        if (!this.allowed(req.id, 'orders:write')) return;
        // Every order is validated before anything is proposed: a bad one (named by its index) refuses the batch.
        const batch =
          req.orders.length >= 1 && req.orders.length <= MAX_BATCH_ORDERS && req.orders.every(isCanonicalOrder)
            ? { ok: true as const, value: { orders: req.orders } }
            : validate(OrderBatchInputSchema, { orders: req.orders });
        if (!batch.ok) return this.send({ kind: Kind.REPLY, id: req.id, status: 400, error: batch.error });
        return this.run(req.id, this.opts.node.applyOrders(batch.value.orders), (r) =>
          r.results.map((res) => asAsked(res, req.stamped)),
        );
      }
      case Kind.GET_ORDER: {
        if (!this.allowed(req.id, 'read')) return;
        const orderId = validate(OrderIdSchema, req.orderId);
        if (!orderId.ok) return this.send({ kind: Kind.REPLY, id: req.id, status: 400, error: orderId.error });
        return this.run(req.id, this.opts.node.getOrder(orderId.value), (r: OrderResult) => asAsked(r, req.stamped));
      }
      case Kind.CANCEL: {
        if (!this.allowed(req.id, 'orders:write')) return;
        const cancel = validate(CancelRequestSchema, { orderId: req.orderId, account: req.account });
        if (!cancel.ok) return this.send({ kind: Kind.REPLY, id: req.id, status: 400, error: cancel.error });
        return this.run(req.id, this.opts.node.cancelOrder(cancel.value), (r: CancelResult) => r);
      }
    }
  }

  /**
   * A HELLO is judged like any request needing `read` (any valid token); a refused first HELLO closes the
   * connection after its 401, a refused renewal only answers 401 and keeps the previous token.
   */
  private hello(id: number, authorization: string): void {
    const verdict = this.opts.verifier?.check(authorization, 'read') ?? { ok: true as const };
    if (!verdict.ok) {
      const reply = encodeReply({ kind: Kind.REPLY, id, status: verdict.status, error: verdict.reason });
      if (this.authorization !== undefined) return this.write(reply);
      this.closed = true;
      this.socket.end(reply);
      this.socket.destroySoon();
      return;
    }
    if (this.authorization === undefined) {
      this.authenticated();
      this.decoder.maxFrameBytes = MAX_REQUEST_FRAME_BYTES;
    }
    this.authorization = authorization;
    this.send({ kind: Kind.REPLY, id, status: 200 });
  }

  /** The scope check of every request, against the newest token (expiry is judged each time). */
  private allowed(id: number, scope: Scope): boolean {
    const verdict = this.opts.verifier?.check(this.authorization, scope);
    if (!verdict || verdict.ok) return true;
    this.send({ kind: Kind.REPLY, id, status: verdict.status, error: verdict.reason });
    return false;
  }

  private run<T>(id: number, work: Promise<Outcome<T>>, body: (v: T) => ReplyBody): void {
    this.pending++;
    if (this.pending >= MAX_PENDING) this.pause();
    work
      .then(
        (outcome) => {
          trace('api.resolved');
          this.send(outcomeReply(id, outcome, body));
        },
        (err: unknown) => {
          this.opts.logger.error('binary request failed', { error: err as Error });
          this.send({ kind: Kind.REPLY, id, status: 500, error: 'internal error' });
        },
      )
      .finally(() => {
        this.pending--;
        this.maybeResume();
      });
  }

  private send(reply: WireReply): void {
    this.write(encodeReply(reply));
  }

  /** Queues a reply; everything queued in this tick goes out in one socket write. */
  private write(frame: Buffer): void {
    if (!this.closed) this.writer.push(frame);
  }

  private flush(data: Buffer): void {
    trace('api.write');
    this.socket.write(data);
    if (this.socket.writableLength > MAX_UNSENT_BYTES) this.pause();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.pending >= MAX_PENDING / 2 || this.socket.writableLength > MAX_UNSENT_BYTES) return;
    this.paused = false;
    this.socket.resume();
  }
}
