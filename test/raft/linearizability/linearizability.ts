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
import type { Order, OrderResult } from '../../../shared/domain/order';

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

export type LedgerInput = { kind: 'applyOrder'; order: Order } | { kind: 'getOrder'; orderId: string };
/** applyOrder → the result; getOrder → the recorded result, or null for "not found". */
export type LedgerOutput = OrderResult | null;

/**
 * One order id's history: not applied yet; applied by an operation whose answer was lost (the result is bound
 * by the first observation); or applied with a known result.
 */
export type LedgerModelState =
  { kind: 'absent' } | { kind: 'applied-unseen'; order: Order } | { kind: 'applied'; result: OrderResult };

const ABSENT: LedgerModelState = { kind: 'absent' };

function orderIdOf(input: LedgerInput): string {
  return input.kind === 'applyOrder' ? input.order.orderId : input.orderId;
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

/** Equal as recorded results: everything but the duplicate flag. */
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
    a.price === b.price
  );
}

/** An observation of the recorded result (a duplicate answer or a read) in the given state. */
function observeRecorded(state: LedgerModelState, observed: OrderResult): { ok: boolean; state: LedgerModelState } {
  if (state.kind === 'absent') return { ok: false, state };
  if (state.kind === 'applied-unseen') {
    return sameOrder(observed, state.order)
      ? { ok: true, state: { kind: 'applied', result: { ...observed, duplicate: false } } }
      : { ok: false, state };
  }
  return { ok: sameRecord(state.result, observed), state };
}

/**
 * The ledger model, partitioned by order id: applyOrder applies an id once (a repeat answers the first result
 * with duplicate: true); getOrder reads it. Seqs cross partitions, so they are checked by checkSeqs.
 */
export const ledgerModel: Model<LedgerModelState, LedgerInput, LedgerOutput> = {
  init: () => ABSENT,
  step(state, input, output) {
    if (input.kind === 'getOrder') {
      if (output === undefined) return { ok: true, state };
      if (output === null) return { ok: state.kind === 'absent', state };
      return output.orderId === input.orderId ? observeRecorded(state, output) : { ok: false, state };
    }
    if (output === undefined) {
      // Its answer was lost: if it is the first application, the result is bound when someone observes it.
      return { ok: true, state: state.kind === 'absent' ? { kind: 'applied-unseen', order: input.order } : state };
    }
    if (output === null || output.orderId !== input.order.orderId) return { ok: false, state };
    if (!output.duplicate) {
      const ok = state.kind === 'absent' && sameOrder(output, input.order);
      return { ok, state: ok ? { kind: 'applied', result: output } : state };
    }
    return observeRecorded(state, output);
  },
  partition(history) {
    const byOrder = new Map<string, Operation<LedgerInput, LedgerOutput>[]>();
    for (const op of history) {
      const key = orderIdOf(op.input);
      const part = byOrder.get(key);
      if (part) part.push(op);
      else byOrder.set(key, [op]);
    }
    return [...byOrder.values()];
  },
  hash: (state) => JSON.stringify(state),
  readOnly: (input) => input.kind === 'getOrder',
};

export interface SeqCheck {
  ok: boolean;
  problems: string[];
}

/**
 * What the per-order partitions cannot see, because seq is global:
 *  - one seq is never given to two order ids, and one order id always shows the same seq;
 *  - real-time order: an order first applied (duplicate: false) after another's answer arrived has a higher seq;
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
    const output = op.output;
    if (isTimedOut(op) || !output) continue;
    if (output.status === 'REJECTED') {
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
    if (op.input.kind === 'applyOrder' && !output.duplicate) {
      firstApplications.push({
        seq: output.seq,
        invokeTime: op.invokeTime,
        completeTime: op.completeTime as number,
        id: op.id,
      });
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
