import type { CancelResult, Order, OrderResult, OrderStatus, Side } from '../domain/order';
import { Reader as BaseReader, WireError, Writer } from './binary';
import { finishFrame, startFrame } from './framing';

export { WireError };

/**
 * The ledger's binary client protocol: what goes inside each frame (framing.ts) on a client connection. Hand-written
 * rather than msgpack/CBOR: the messages are five fixed shapes of a few strings and numbers, and a fixed layout
 * needs no field names on the wire, no type tags to check and no intermediate object — a few µs per request,
 * where JSON or a generic codec costs tens (the issue measured ~8 stringify/parse per write). Validation of the
 * decoded values is the node's job, once, at its edge (binary-api.ts runs the same zod schemas as the HTTP API).
 *
 * Every message: u8 kind, u32 request id (chosen by the client, echoed in the reply; 0 for HELLO and for a fatal
 * ERROR), then the kind's payload. Strings are u16 length + UTF-8; numbers are f64 (quantity, price, seq,
 * position: all within 2^53).
 *
 *   client → node   HELLO        str bearer header ("Bearer …"); must be the first message, may be sent again
 *                                to renew the token (later requests are judged by the newest)
 *                   APPLY_ORDER  order
 *                   APPLY_BATCH  u16 n, n × order
 *                   GET_ORDER    str orderId
 *                   CANCEL       str orderId, str account (the ledger's cancel command)
 *   node → client   REPLY        u16 status (HTTP's codes: 200, 307, 400, 401, 403, 404, 409, 503), then
 *                                200: u8 body (0 none, 1 one result, 2 u16 n × result, 3 cancel, 4 and 5
 *                                as 1 and 2 with executedTs in some result);
 *                                307: str leader URL; otherwise: str error
 *                   ERROR        str what was wrong; the node closes the connection after it
 *   order  = str orderId, str account, str symbol, u8 side (0 BUY, 1 SELL), f64 quantity, f64 price
 *   result = str orderId, u8 status (0 ACCEPTED, 1 REJECTED, 2 CANCELED), u8 flags (1 duplicate, 2 has seq,
 *            4 has reason, 8 has executedTs), [f64 seq], [str reason], f64 position, str account, str symbol,
 *            u8 side, f64 quantity, f64 price, [f64 executedTs]
 *   cancel = str orderId, str account, u8 status (as in result), u8 flags (1 duplicate, 2 pending)
 * The ledger's entry timestamps (a result's executedTs) came later, opted into per request so that clients and
 * nodes of either age keep working together: APPLY_ORDER, APPLY_BATCH and GET_ORDER sent as kinds 6, 7 and 8
 * ("stamped": same payloads) are answered with results that carry executedTs (flag 8) in bodies 4 and 5 (as 1 and
 * 2); the old kinds are answered as before, without it. A client asks for them only of a node whose
 * GET /v1/endpoints says `"stamps": true`, so it never sends a kind an older node does not know.
 * CANCEL, status 2 and body 3 came with the cancel command; a client that never cancels never meets body 3, and
 * status 2 only for an order some other client canceled.
 */

export const Kind = {
  HELLO: 1,
  APPLY_ORDER: 2,
  APPLY_BATCH: 3,
  GET_ORDER: 4,
  CANCEL: 5,
  /** APPLY_ORDER, APPLY_BATCH, GET_ORDER asking for stamped results (WireRequest's `stamped`). */
  APPLY_ORDER_STAMPED: 6,
  APPLY_BATCH_STAMPED: 7,
  GET_ORDER_STAMPED: 8,
  REPLY: 0x80,
  ERROR: 0xff,
} as const;

/** `stamped`: sent as the kind's stamped form, answered with executedTs in its results. */
export type WireRequest =
  | { kind: typeof Kind.HELLO; id: number; authorization: string }
  | { kind: typeof Kind.APPLY_ORDER; id: number; order: Order; stamped?: boolean }
  | { kind: typeof Kind.APPLY_BATCH; id: number; orders: Order[]; stamped?: boolean }
  | { kind: typeof Kind.GET_ORDER; id: number; orderId: string; stamped?: boolean }
  | { kind: typeof Kind.CANCEL; id: number; orderId: string; account: string };

export type ReplyBody = undefined | OrderResult | OrderResult[] | CancelResult;

export type WireReply =
  | { kind: typeof Kind.REPLY; id: number; status: number; body?: ReplyBody; leader?: string; error?: string }
  | { kind: typeof Kind.ERROR; id: number; error: string };

const SIDES: readonly Side[] = ['BUY', 'SELL'];
/** A status's byte is its index here. */
const STATUSES: readonly OrderStatus[] = ['ACCEPTED', 'REJECTED', 'CANCELED'];

/** The shared reader plus the client protocol's one enum. */
class Reader extends BaseReader {
  status(what: string): OrderStatus {
    const v = this.u8(what);
    const status = STATUSES[v];
    if (!status) throw new WireError(`${what}: status byte ${v} is none of 0 (ACCEPTED), 1 (REJECTED), 2 (CANCELED)`);
    return status;
  }

  side(what: string): Side {
    const v = this.u8(what);
    const side = SIDES[v];
    if (!side) throw new WireError(`${what}: side byte ${v} is neither 0 (BUY) nor 1 (SELL)`);
    return side;
  }
}

function start(kind: number, id: number): Writer {
  return startFrame().u8(kind).u32(id);
}

function writeOrder(w: Writer, o: Order): void {
  w.str(o.orderId).str(o.account).str(o.symbol);
  w.u8(o.side === 'SELL' ? 1 : 0)
    .f64(o.quantity)
    .f64(o.price);
}

function readOrder(r: Reader, at: string): Order {
  return {
    orderId: r.str(`${at}orderId`),
    account: r.str(`${at}account`),
    symbol: r.str(`${at}symbol`),
    side: r.side(`${at}side`),
    quantity: r.f64(`${at}quantity`),
    price: r.f64(`${at}price`),
  };
}

function writeResult(w: Writer, res: OrderResult): void {
  const flags =
    (res.duplicate ? 1 : 0) |
    (res.seq !== undefined ? 2 : 0) |
    (res.reason !== undefined ? 4 : 0) |
    (res.executedTs !== undefined ? 8 : 0);
  w.str(res.orderId).u8(STATUSES.indexOf(res.status)).u8(flags);
  if (res.seq !== undefined) w.f64(res.seq);
  if (res.reason !== undefined) w.str(res.reason);
  w.f64(res.position).str(res.account).str(res.symbol);
  w.u8(res.side === 'SELL' ? 1 : 0)
    .f64(res.quantity)
    .f64(res.price);
  if (res.executedTs !== undefined) w.f64(res.executedTs);
}

function readResult(r: Reader): OrderResult {
  const orderId = r.str('result orderId');
  const status = r.status('result status');
  const flags = r.u8('result flags');
  const seq = flags & 2 ? r.f64('result seq') : undefined;
  const reason = flags & 4 ? r.str('result reason') : undefined;
  const result: OrderResult = {
    orderId,
    status,
    ...(seq !== undefined ? { seq } : {}),
    ...(reason !== undefined ? { reason } : {}),
    duplicate: (flags & 1) !== 0,
    position: r.f64('result position'),
    account: r.str('result account'),
    symbol: r.str('result symbol'),
    side: r.side('result side'),
    quantity: r.f64('result quantity'),
    price: r.f64('result price'),
  };
  if (flags & 8) result.executedTs = r.f64('result executedTs');
  return result;
}

function writeCancel(w: Writer, res: CancelResult): void {
  w.str(res.orderId).str(res.account).u8(STATUSES.indexOf(res.status));
  w.u8((res.duplicate ? 1 : 0) | (res.pending ? 2 : 0));
}

function readCancel(r: Reader): CancelResult {
  const orderId = r.str('cancel orderId');
  const account = r.str('cancel account');
  const status = r.status('cancel status');
  const flags = r.u8('cancel flags');
  return { orderId, account, status, pending: (flags & 2) !== 0, duplicate: (flags & 1) !== 0 };
}

/** Each request kind that has a stamped form, and it. */
const STAMPED_PAIRS = [
  [Kind.APPLY_ORDER, Kind.APPLY_ORDER_STAMPED],
  [Kind.APPLY_BATCH, Kind.APPLY_BATCH_STAMPED],
  [Kind.GET_ORDER, Kind.GET_ORDER_STAMPED],
] as const;
/** The request kinds that have a stamped form (the list above's first column). */
type StampableKind = (typeof STAMPED_PAIRS)[number][0];
const STAMPED_KINDS = new Map<number, number>(STAMPED_PAIRS);
const BASE_KINDS = new Map([...STAMPED_KINDS].map(([base, stamped]) => [stamped, base]));

/** Whether a request has a stamped form (a client asks a node that stamps for it: shared/raft-client). */
export function hasStampedForm<R extends { kind: number }>(req: R): req is Extract<R, { kind: StampableKind }> {
  return STAMPED_KINDS.has(req.kind);
}

/** A request as one frame (length prefix included), ready to write. */
export function encodeRequest(req: WireRequest): Buffer {
  const w = start('stamped' in req && req.stamped ? STAMPED_KINDS.get(req.kind)! : req.kind, req.id);
  switch (req.kind) {
    case Kind.HELLO:
      w.str(req.authorization);
      break;
    case Kind.APPLY_ORDER:
      writeOrder(w, req.order);
      break;
    case Kind.APPLY_BATCH:
      w.u16(req.orders.length);
      for (const o of req.orders) writeOrder(w, o);
      break;
    case Kind.GET_ORDER:
      w.str(req.orderId);
      break;
    case Kind.CANCEL:
      w.str(req.orderId).str(req.account);
      break;
  }
  return finishFrame(w);
}

/** A frame's body as a request; throws WireError naming what is wrong (an unknown kind, a short message …). */
export function decodeRequest(body: Buffer): WireRequest {
  const r = new Reader(body);
  const sent = r.u8('kind');
  const id = r.u32('request id');
  const kind = BASE_KINDS.get(sent) ?? sent;
  const stamped = BASE_KINDS.has(sent) ? { stamped: true } : {};
  let req: WireRequest;
  if (kind === Kind.HELLO) req = { kind, id, authorization: r.str('authorization') };
  else if (kind === Kind.APPLY_ORDER) req = { kind, id, order: readOrder(r, 'order.'), ...stamped };
  else if (kind === Kind.APPLY_BATCH) {
    const n = r.u16('batch size');
    const orders: Order[] = [];
    for (let i = 0; i < n; i++) orders.push(readOrder(r, `orders.${i}.`));
    req = { kind, id, orders, ...stamped };
  } else if (kind === Kind.GET_ORDER) req = { kind, id, orderId: r.str('orderId'), ...stamped };
  else if (kind === Kind.CANCEL) req = { kind, id, orderId: r.str('orderId'), account: r.str('account') };
  else throw new WireError(`unknown request kind ${kind}`);
  r.end();
  return req;
}

export function encodeReply(reply: WireReply): Buffer {
  const w = start(reply.kind, reply.id);
  if (reply.kind === Kind.ERROR) return finishFrame(w.str(reply.error));
  w.u16(reply.status);
  if (reply.status === 200) {
    const body = reply.body;
    if (body === undefined) w.u8(0);
    else if (Array.isArray(body)) {
      w.u8(body.some((res) => res.executedTs !== undefined) ? 5 : 2).u16(body.length);
      for (const res of body) writeResult(w, res);
    } else if ('pending' in body) writeCancel(w.u8(3), body);
    else writeResult(w.u8(body.executedTs === undefined ? 1 : 4), body);
  } else if (reply.status === 307) w.str(reply.leader ?? '');
  else w.str(reply.error ?? `status ${reply.status}`);
  return finishFrame(w);
}

export function decodeReply(body: Buffer): WireReply {
  const r = new Reader(body);
  const kind = r.u8('kind');
  const id = r.u32('request id');
  if (kind === Kind.ERROR) return { kind, id, error: r.str('error') };
  if (kind !== Kind.REPLY) throw new WireError(`unknown reply kind ${kind}`);
  const status = r.u16('status');
  let reply: WireReply;
  if (status === 200) {
    const shape = r.u8('body shape');
    let result: ReplyBody;
    if (shape === 1 || shape === 4) result = readResult(r);
    else if (shape === 3) result = readCancel(r);
    else if (shape === 2 || shape === 5) {
      const n = r.u16('result count');
      result = [];
      for (let i = 0; i < n; i++) result.push(readResult(r));
    } else if (shape !== 0) throw new WireError(`unknown body shape ${shape}`);
    reply = { kind, id, status, body: result };
  } else if (status === 307) reply = { kind, id, status, leader: r.str('leader') };
  else reply = { kind, id, status, error: r.str('error') };
  r.end();
  return reply;
}
