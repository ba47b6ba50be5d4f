/**
 * Linearizability checker for recorded client histories: the Wing & Gong search with Lowe's memoization
 * (a configuration seen before — same set of linearized operations, same model state — is not explored
 * twice) and P-compositionality (a model may split the history into independent parts, e.g. per order id,
 * each checked on its own). Written here because no maintained npm package checks linearizability for
 * TypeScript models (the well-known checkers are Porcupine in Go and Knossos in Clojure).
 *
 * An operation that timed out (no completeTime, or Infinity) may or may not have taken effect: the search may
 * linearize it at any point after its invocation, or never, and its output is unknown to the model.
 */
import type { CancelResult, Order, OrderResult } from '../../shared/domain/order';

export interface Operation<I, O> {
  id: number | string;
  clientId: number | string;
  input: I;
  /** What the client observed; absent for a timed-out operation. */
  output?: O;
  invokeTime: number;
  /** When the answer arrived; undefined or Infinity when it never did (timeout, broken connection). */
  completeTime?: number;
}

export interface Model<S, I, O> {
  init(): S;
  /**
   * Applies `input` to `state`. `output` is what the client saw, or undefined when it is unknown (a timed-out
   * operation): then any output is acceptable. Returns ok: false when the output is impossible in this state.
   */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** Splits a history into parts that cannot affect each other; default: the whole history is one part. */
  partition?(history: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** Equal states must hash equally (the memo's key). */
  hash(state: S): string;
  /**
   * True when step never changes the state for this input and output, in any state (a read). The search then
   * tries no alternative where it could place such an operation: moving a read that fits the current state to
   * the front of any linearization of the rest keeps it valid. An optimization only; absent means false.
   */
  readOnly?(input: I, output: O | undefined): boolean;
}

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface LinearizabilityResult<I, O> {
  verdict: Verdict;
  partitions: number;
  /** Search steps over all partitions. */
  steps: number;
  /** The first part found not linearizable (or whose search ran out of steps), for the report. */
  failingPartition?: Operation<I, O>[];
  /** The longest order of that part's operations (by id) that the model accepted before getting stuck. */
  longestLinearization?: (number | string)[];
}

export interface CheckOptions {
  /** Gives up on a part with verdict 'unknown' after this many search steps (default 1,000,000). */
  maxStepsPerPartition?: number;
}

export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): LinearizabilityResult<I, O> {
  history.forEach(validateOperation);
  const parts = model.partition ? model.partition(history) : [history.slice()];
  const maxSteps = options.maxStepsPerPartition ?? 1_000_000;
  let steps = 0;
  for (const part of parts) {
    const outcome = searchPartition(model, part, maxSteps);
    steps += outcome.steps;
    if (outcome.verdict !== 'linearizable') {
      return {
        verdict: outcome.verdict,
        partitions: parts.length,
        steps,
        failingPartition: part,
        longestLinearization: outcome.longest,
      };
    }
  }
  return { verdict: 'linearizable', partitions: parts.length, steps };
}

function isTimedOut(op: Operation<unknown, unknown>): boolean {
  return op.completeTime === undefined || op.completeTime === Infinity;
}

function validateOperation(op: Operation<unknown, unknown>): void {
  if (!Number.isFinite(op.invokeTime)) {
    throw new Error(`operation ${op.id}: invokeTime must be a finite number, got ${op.invokeTime}`);
  }
  if (!isTimedOut(op) && !((op.completeTime as number) >= op.invokeTime)) {
    throw new Error(`operation ${op.id}: completeTime ${op.completeTime} is before invokeTime ${op.invokeTime}`);
  }
}

/** A node of the doubly linked event list the search walks; a call knows its return (none if timed out). */
interface EventNode {
  kind: 'call' | 'return' | 'head';
  op: number;
  match: EventNode | null;
  prev: EventNode | null;
  next: EventNode | null;
}

function buildEventList(ops: readonly Operation<unknown, unknown>[]): EventNode {
  const events: { node: EventNode; time: number }[] = [];
  ops.forEach((op, i) => {
    const call: EventNode = { kind: 'call', op: i, match: null, prev: null, next: null };
    events.push({ node: call, time: op.invokeTime });
    if (!isTimedOut(op)) {
      const ret: EventNode = { kind: 'return', op: i, match: null, prev: null, next: null };
      call.match = ret;
      events.push({ node: ret, time: op.completeTime as number });
    }
  });
  // At equal times calls come first: the operations then overlap, which only widens the orders allowed.
  events.sort((a, b) => a.time - b.time || (a.node.kind === b.node.kind ? 0 : a.node.kind === 'call' ? -1 : 1));
  const head: EventNode = { kind: 'head', op: -1, match: null, prev: null, next: null };
  let tail = head;
  for (const { node } of events) {
    tail.next = node;
    node.prev = tail;
    tail = node;
  }
  return head;
}

function unlink(node: EventNode): void {
  (node.prev as EventNode).next = node.next;
  if (node.next) node.next.prev = node.prev;
}

/** Undoes unlink(); nodes must be relinked in the reverse order of their unlinking. */
function relink(node: EventNode): void {
  (node.prev as EventNode).next = node;
  if (node.next) node.next.prev = node;
}

/** Integer mix (a Murmur3 finalizer) so each operation gets a well-spread 32-bit hash. */
function mix32(value: number): number {
  let h = value ^ (value >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The memo: configurations (set of linearized operations, model state) already explored. The set is a bitset
 * with an incrementally maintained hash; buckets compare bitsets exactly, so a hash collision never prunes.
 */
class Memo {
  private readonly buckets = new Map<string, Uint32Array[]>();

  /** Records the configuration; false if it was there already. */
  add(bits: Uint32Array, bitsHash: number, stateHash: string): boolean {
    const key = `${bitsHash}|${stateHash}`;
    const bucket = this.buckets.get(key);
    if (!bucket) {
      this.buckets.set(key, [bits.slice()]);
      return true;
    }
    if (bucket.some((stored) => stored.every((word, i) => word === bits[i]))) return false;
    bucket.push(bits.slice());
    return true;
  }
}

function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  maxSteps: number,
): { verdict: Verdict; steps: number; longest: (number | string)[] } {
  const head = buildEventList(ops);
  const memo = new Memo();
  const bits = new Uint32Array(Math.ceil(ops.length / 32));
  let bitsHash = 0;
  const flip = (op: number): void => {
    bits[op >>> 5] = ((bits[op >>> 5] as number) ^ (1 << (op & 31))) >>> 0;
    bitsHash = (bitsHash ^ mix32(op + 1)) >>> 0;
  };
  /** forced: a read-only operation, so no other choice at that point needs trying (see Model.readOnly). */
  const stack: { node: EventNode; state: S; stateHash: string; forced: boolean }[] = [];
  let longest: (number | string)[] = [];
  let state = model.init();
  let stateHash = model.hash(state);
  let unfinished = ops.filter((op) => !isTimedOut(op)).length;
  let entry = head.next;
  let steps = 0;

  while (unfinished > 0) {
    steps += 1;
    if (steps > maxSteps) return { verdict: 'unknown', steps, longest };
    if (entry && entry.kind === 'call') {
      const op = ops[entry.op] as Operation<I, O>;
      const result = model.step(state, op.input, isTimedOut(op) ? undefined : op.output);
      if (result.ok) {
        flip(entry.op);
        const nextHash = model.hash(result.state);
        if (memo.add(bits, bitsHash, nextHash)) {
          const forced = model.readOnly?.(op.input, isTimedOut(op) ? undefined : op.output) === true;
          stack.push({ node: entry, state, stateHash, forced });
          state = result.state;
          stateHash = nextHash;
          unlink(entry);
          if (entry.match) {
            unlink(entry.match);
            unfinished -= 1;
          }
          entry = head.next;
          continue;
        }
        flip(entry.op);
      }
      entry = entry.next;
    } else {
      // A return reached before its call was linearized (or the list ran out): undo the last choice.
      if (stack.length > longest.length) longest = stack.map((frame) => (ops[frame.node.op] as Operation<I, O>).id);
      const frame = stack.pop();
      if (!frame) return { verdict: 'not-linearizable', steps, longest };
      state = frame.state;
      stateHash = frame.stateHash;
      flip(frame.node.op);
      if (frame.node.match) {
        relink(frame.node.match);
        unfinished += 1;
      }
      relink(frame.node);
      entry = frame.forced ? null : frame.node.next;
    }
  }
  return { verdict: 'linearizable', steps, longest };
}

// ---------------------------------------------------------------------------------------------------------
// The ledger's order operations.

export type LedgerInput =
  | { kind: 'applyOrder'; order: Order }
  | { kind: 'applyBatch'; orders: Order[] }
  | { kind: 'getOrder'; orderId: string }
  | { kind: 'cancel'; orderId: string; account: string };
/**
 * applyOrder → the result; applyBatch → one result per order, in its order; getOrder → the result or null;
 * cancel → the ledger's CancelResult.
 */
export type LedgerOutput = OrderResult | OrderResult[] | CancelResult | null;

/**
 * One order id's history: not applied yet; canceled before it was applied (a tombstone waits for it); applied by an
 * operation whose answer was lost (the result is bound by the first observation; `canceled`: it found a tombstone,
 * so its result must be CANCELED, and only then); or applied with a known result. The model takes one account per
 * order id (the simulation cancels with the order's own account), so a cancel's account never decides anything.
 */
export type OrderModelState =
  | { kind: 'absent' }
  | { kind: 'canceled-pending' }
  | { kind: 'applied-unseen'; order: Order; canceled: boolean }
  | { kind: 'applied'; result: OrderResult };

/**
 * The order ids of one partition that are no longer absent (an id not in the map is absent), kept in id order so
 * that equal states iterate (and hash) alike whatever order the search applied them in.
 */
export type LedgerModelState = ReadonlyMap<string, OrderModelState>;

/** Sets one id's state; a new id is put in its sorted place. */
function withOrder(state: LedgerModelState, orderId: string, order: OrderModelState): LedgerModelState {
  if (state.has(orderId)) return new Map(state).set(orderId, order);
  return new Map([...state, [orderId, order] as const].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The memo's key for one id's state, compact and computed once per state object: a search step hashes the whole
 * partition's state, and a batch links many ids into one partition.
 */
const encodedOrderStates = new WeakMap<OrderModelState, string>();
function encodeOrderState(state: OrderModelState): string {
  let code = encodedOrderStates.get(state);
  if (code === undefined) {
    const o = state.kind === 'applied' ? state.result : state.kind === 'applied-unseen' ? state.order : undefined;
    const result =
      state.kind === 'applied'
        ? [state.result.status, state.result.seq, state.result.reason]
        : state.kind === 'applied-unseen'
          ? [state.canceled]
          : [];
    const position = state.kind === 'applied' ? state.result.position : '';
    code = JSON.stringify([state.kind, o?.account, o?.symbol, o?.side, o?.quantity, o?.price, position, ...result]);
    encodedOrderStates.set(state, code);
  }
  return code;
}

const ABSENT: OrderModelState = { kind: 'absent' };
type OrderStep = { ok: boolean; state: OrderModelState };

/** The order ids an operation touches: one, or a batch's. */
function orderIdsOf(input: LedgerInput): string[] {
  switch (input.kind) {
    case 'applyOrder':
      return [input.order.orderId];
    case 'applyBatch':
      return input.orders.map((order) => order.orderId);
    case 'getOrder':
    case 'cancel':
      return [input.orderId];
  }
}

function sameOrder(result: OrderResult, order: Order): boolean {
  return (
    result.orderId === order.orderId &&
    result.account === order.account &&
    result.symbol === order.symbol &&
    result.side === order.side &&
    result.quantity === order.quantity &&
    result.price === order.price
  );
}

/** Equal as recorded results: everything but the duplicate flag (executedTs included: a repeat answers the first's). */
function sameRecord(a: OrderResult, b: OrderResult): boolean {
  return (
    a.orderId === b.orderId &&
    a.status === b.status &&
    a.seq === b.seq &&
    a.reason === b.reason &&
    a.position === b.position &&
    a.account === b.account &&
    a.symbol === b.symbol &&
    a.side === b.side &&
    a.quantity === b.quantity &&
    a.price === b.price &&
    a.executedTs === b.executedTs
  );
}

/** An observation of the recorded result (a duplicate answer or a read) in the given state. */
function observeRecorded(state: OrderModelState, observed: OrderResult): OrderStep {
  if (state.kind === 'absent' || state.kind === 'canceled-pending') return { ok: false, state };
  if (state.kind === 'applied-unseen') {
    return sameOrder(observed, state.order) && (observed.status === 'CANCELED') === state.canceled
      ? { ok: true, state: { kind: 'applied', result: { ...observed, duplicate: false } } }
      : { ok: false, state };
  }
  return { ok: sameRecord(state.result, observed), state };
}

/** One order applied, alone or as part of a batch; `output` undefined when the answer was lost. */
function applyOrder(state: OrderModelState, order: Order, output: OrderResult | undefined): OrderStep {
  const fresh = state.kind === 'absent' || state.kind === 'canceled-pending';
  const canceled = state.kind === 'canceled-pending';
  if (output === undefined) {
    // Its answer was lost: if it is the first application, the result is bound when someone observes it.
    return { ok: true, state: fresh ? { kind: 'applied-unseen', order, canceled } : state };
  }
  if (output === null || typeof output !== 'object' || output.orderId !== order.orderId) return { ok: false, state };
  if (!output.duplicate) {
    // A first application: CANCELED (never executed, no seq) iff a cancel came first.
    const ok = fresh && sameOrder(output, order) && (output.status === 'CANCELED') === canceled;
    return { ok, state: ok ? { kind: 'applied', result: output } : state };
  }
  return observeRecorded(state, output);
}

/**
 * A cancel: before the order, it leaves a tombstone (CANCELED, pending); after it, it answers the order's status
 * (duplicate when that is CANCELED, i.e. a cancel came first). A lost answer still leaves the tombstone.
 */
function cancelOrder(state: OrderModelState, output: LedgerOutput | undefined): OrderStep {
  const pendingState: OrderModelState = { kind: 'canceled-pending' };
  if (output === undefined) return { ok: true, state: state.kind === 'absent' ? pendingState : state };
  if (output === null || Array.isArray(output) || !('pending' in output)) return { ok: false, state };
  const answered = (status: string, pending: boolean, duplicate: boolean) =>
    output.status === status && output.pending === pending && output.duplicate === duplicate;
  switch (state.kind) {
    case 'absent':
      return answered('CANCELED', true, false) ? { ok: true, state: pendingState } : { ok: false, state };
    case 'canceled-pending':
      return { ok: answered('CANCELED', true, true), state };
    case 'applied-unseen':
      // The order's status is not bound yet; the answer says whether it was canceled, which the state knows.
      return {
        ok: state.canceled ? answered('CANCELED', false, true) : output.status !== 'CANCELED' && !output.pending,
        state,
      };
    case 'applied':
      return { ok: answered(state.result.status, false, state.result.status === 'CANCELED'), state };
  }
}

function readOrder(state: OrderModelState, orderId: string, output: LedgerOutput | undefined): OrderStep {
  if (output === undefined) return { ok: true, state };
  if (output === null) return { ok: state.kind === 'absent' || state.kind === 'canceled-pending', state };
  if (!Array.isArray(output) && 'pending' in output) return { ok: false, state };
  return !Array.isArray(output) && output.orderId === orderId ? observeRecorded(state, output) : { ok: false, state };
}

/** A batch: its orders applied one after the other at one instant, so a repeat within it sees the first. */
function applyBatch(state: LedgerModelState, orders: Order[], output: LedgerOutput | undefined) {
  const fail = { ok: false, state };
  if (output !== undefined && (!Array.isArray(output) || output.length !== orders.length)) return fail;
  let next = state;
  for (const [i, order] of orders.entries()) {
    const current = next.get(order.orderId) ?? ABSENT;
    const step = applyOrder(current, order, output?.[i]);
    if (!step.ok) return fail;
    if (step.state !== current) next = withOrder(next, order.orderId, step.state);
  }
  return { ok: true, state: next };
}

/** Union-find over order ids: the connected components of ids linked by batches. */
function componentsOf(history: readonly Operation<LedgerInput, LedgerOutput>[]) {
  const parent = new Map<string, string>();
  const root = (id: string): string => {
    let r = id;
    while (parent.get(r) !== undefined && parent.get(r) !== r) r = parent.get(r)!;
    parent.set(id, r);
    return r;
  };
  for (const op of history) {
    const [first, ...rest] = orderIdsOf(op.input).map(root);
    for (const other of rest) if (other !== first) parent.set(other, first!);
  }
  return root;
}

/**
 * The ledger model: applyOrder applies an id once (a repeat answers the first result with duplicate: true);
 * getOrder reads it; applyBatch applies several ids atomically, in order.
 *
 * Partitions: P-compositionality (Herlihy & Wing's locality) holds for operations on one object each, so a
 * history of single orders and reads splits per order id. A batch is one operation over several ids, and
 * splitting it into N single-id operations with the batch's interval would check each id alone but not that the
 * batch took effect at one instant: a reader seeing order b of batch {a, b} applied, then a later reader not
 * seeing a, passes per id yet is a torn batch. So a batch stays one operation, and the partitions are the
 * connected components of ids linked by batches (ids never batched together still split per id). Seqs cross
 * partitions, so they are checked by checkSeqs.
 */
export const ledgerModel: Model<LedgerModelState, LedgerInput, LedgerOutput> = {
  init: () => new Map(),
  step(state, input, output) {
    if (input.kind === 'applyBatch') return applyBatch(state, input.orders, output);
    const orderId = input.kind === 'applyOrder' ? input.order.orderId : input.orderId;
    // (getOrder and cancel name the id directly.)
    const current = state.get(orderId) ?? ABSENT;
    const step =
      input.kind === 'getOrder'
        ? readOrder(current, orderId, output)
        : input.kind === 'cancel'
          ? cancelOrder(current, output)
          : applyOrder(current, input.order, output as OrderResult | undefined);
    if (!step.ok || step.state === current) return { ok: step.ok, state };
    return { ok: true, state: withOrder(state, orderId, step.state) };
  },
  partition(history) {
    const rootOf = componentsOf(history);
    const parts = new Map<string, Operation<LedgerInput, LedgerOutput>[]>();
    for (const op of history) {
      const key = rootOf(orderIdsOf(op.input)[0]!);
      const part = parts.get(key);
      if (part) part.push(op);
      else parts.set(key, [op]);
    }
    return [...parts.values()];
  },
  hash: (state) => {
    let hash = '';
    for (const [orderId, order] of state) hash += `${orderId}=${encodeOrderState(order)};`;
    return hash;
  },
  readOnly: (input) => input.kind === 'getOrder',
};

/** The results an answered operation reported; `application` when it applied them (rather than read). */
function answeredResults(op: Operation<LedgerInput, LedgerOutput>): { output: OrderResult; application: boolean }[] {
  const output = op.output;
  if (isTimedOut(op) || !output) return [];
  if (op.input.kind === 'cancel' || (!Array.isArray(output) && 'pending' in output)) return [];
  const application = op.input.kind !== 'getOrder';
  return (Array.isArray(output) ? output : [output]).map((result) => ({ output: result, application }));
}

/**
 * A batch is applied at one instant: the orders it accepted for the first time hold consecutive seqs in the
 * batch's order, with no other order's seq between them. Undefined when that holds (or it is not a batch).
 */
function batchSeqProblem(op: Operation<LedgerInput, LedgerOutput>): string | undefined {
  if (op.input.kind !== 'applyBatch' || !Array.isArray(op.output)) return undefined;
  const seqs = op.output.filter((r) => r.status === 'ACCEPTED' && !r.duplicate).map((r) => r.seq);
  const consecutive = seqs.every((seq, i) => seq !== undefined && seq === (seqs[0] as number) + i);
  return consecutive
    ? undefined
    : `operation ${op.id}: the batch's new acceptances have seqs ${seqs.join(', ')}, not consecutive in its order`;
}

export interface SeqCheck {
  ok: boolean;
  problems: string[];
}

/**
 * What the per-order partitions cannot see, because seq is global:
 *  - one seq is never given to two order ids, and one order id always shows the same seq;
 *  - real-time order: an order first applied (duplicate: false) after another's answer arrived has a higher seq;
 *  - a batch's first-time acceptances hold consecutive seqs in the batch's order (nothing interleaved);
 *  - given the final ledger (every accepted order with its seq, read from a replica at the end): its seqs are
 *    exactly 1..n, every acknowledged acceptance is in it with the same seq, and no acknowledged rejection is.
 */
export function checkSeqs(
  history: readonly Operation<LedgerInput, LedgerOutput>[],
  finalAccepted?: readonly { orderId: string; seq: number }[],
): SeqCheck {
  const problems: string[] = [];
  const orderBySeq = new Map<number, string>();
  const seqByOrder = new Map<string, number>();
  const rejected = new Set<string>();
  const firstApplications: { seq: number; invokeTime: number; completeTime: number; id: number | string }[] = [];

  for (const op of history) {
    const batchProblem = batchSeqProblem(op);
    if (batchProblem) problems.push(batchProblem);
    for (const { output, application } of answeredResults(op)) {
      // Rejected and canceled orders were not executed: no seq, and none may have one elsewhere.
      if (output.status !== 'ACCEPTED') {
        rejected.add(output.orderId);
        continue;
      }
      if (output.seq === undefined) {
        problems.push(`operation ${op.id}: accepted order ${output.orderId} has no seq`);
        continue;
      }
      const holder = orderBySeq.get(output.seq);
      if (holder !== undefined && holder !== output.orderId) {
        problems.push(`seq ${output.seq} was given to both ${holder} and ${output.orderId}`);
      }
      orderBySeq.set(output.seq, output.orderId);
      const known = seqByOrder.get(output.orderId);
      if (known !== undefined && known !== output.seq) {
        problems.push(`order ${output.orderId} was reported with seq ${known} and with seq ${output.seq}`);
      }
      seqByOrder.set(output.orderId, output.seq);
      if (application && !output.duplicate) {
        firstApplications.push({
          seq: output.seq,
          invokeTime: op.invokeTime,
          completeTime: op.completeTime as number,
          id: op.id,
        });
      }
    }
  }

  // Sweep by invocation time, keeping the highest seq among applications already answered.
  const byCompletion = [...firstApplications].sort((a, b) => a.completeTime - b.completeTime);
  const byInvocation = [...firstApplications].sort((a, b) => a.invokeTime - b.invokeTime);
  let answered = 0;
  let highest: (typeof firstApplications)[number] | undefined;
  for (const application of byInvocation) {
    while (
      answered < byCompletion.length &&
      (byCompletion[answered] as (typeof firstApplications)[number]).completeTime < application.invokeTime
    ) {
      const done = byCompletion[answered] as (typeof firstApplications)[number];
      if (!highest || done.seq > highest.seq) highest = done;
      answered += 1;
    }
    if (highest && highest.seq >= application.seq) {
      problems.push(
        `operation ${application.id} got seq ${application.seq} although operation ${highest.id} had already been answered with seq ${highest.seq}`,
      );
    }
  }

  if (finalAccepted) {
    const finalSeqByOrder = new Map<string, number>();
    const finalSeqs = finalAccepted.map((order) => order.seq).sort((a, b) => a - b);
    const firstOff = finalSeqs.findIndex((seq, i) => seq !== i + 1);
    if (firstOff >= 0) {
      problems.push(`final ledger: seqs are not 1..${finalSeqs.length}: seq ${firstOff + 1} is missing or repeated`);
    }
    for (const { orderId, seq } of finalAccepted) finalSeqByOrder.set(orderId, seq);
    for (const [orderId, seq] of seqByOrder) {
      const finalSeq = finalSeqByOrder.get(orderId);
      if (finalSeq !== seq) {
        problems.push(
          `order ${orderId} was acknowledged with seq ${seq} but the final ledger has ${finalSeq ?? 'no such order'}`,
        );
      }
    }
    for (const orderId of rejected) {
      if (finalSeqByOrder.has(orderId))
        problems.push(`order ${orderId} was reported rejected but the final ledger accepted it`);
    }
  }
  return { ok: problems.length === 0, problems };
}
