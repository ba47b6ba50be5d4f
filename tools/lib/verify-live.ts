import type { SQSClient } from '@aws-sdk/client-sqs';
import { createDocumentClient } from '../../shared/aws/clients';
import { DeliveryLog } from '../../shared/aws/delivery-log';
import { queueDepth } from '../../shared/aws/queues';
import { byGroup } from '../../shared/util/chunks';
import { orderStream, updateKey, type OrderUpdate } from '../../shared/domain/live-delivery';
import type { OrderEvent } from '../../shared/domain/event';
import { sleep } from '../../shared/util/wait';

/**
 * verify's live-delivery check: every executed order's update is numbered in its account's stream of the delivery
 * log exactly once, and each stream's seqs run without gaps — read through DeliveryLog, the same reads `resume`
 * makes. The log keeps a day (its TTL), so only events executed within LIVE_CHECK_WINDOW_MS are expected in it, and a
 * stream whose first seqs are gone counts them as expired rather than as a gap.
 */
export const LIVE_CHECK_WINDOW_MS = 23 * 3600_000;

export interface LiveCheckInput {
  outputs: Record<string, string>;
  /** One event per executed order (the first seen). */
  events: readonly OrderEvent[];
  /** When to give up waiting for the notifier's queues to drain. */
  deadline: number;
  now?: number;
  log?: (line: string) => void;
}

type LiveCounts = Record<'liveUpdates' | 'liveUpdatesMissing' | 'liveUpdatesTwice' | 'liveUpdatesExpired', number>;

export interface LiveCheckResult {
  counts: Record<string, number>;
  problems: string[];
  check: string;
}

/** Waits (until the deadline) for the notifier's queues to hold nothing, waiting or in flight, two looks in a row. */
async function waitForDrain(sqs: SQSClient, urls: string[], input: LiveCheckInput): Promise<number> {
  let quiet = 0;
  for (;;) {
    const depth = (await Promise.all(urls.map((url) => queueDepth(sqs, url)))).reduce((a, b) => a + b, 0);
    quiet = depth === 0 ? quiet + 1 : 0;
    if (quiet >= 2 || Date.now() > input.deadline) return depth;
    if (depth > 0) input.log?.(`waiting for live delivery to drain: ${depth} update message(s) queued…`);
    await sleep(1000);
  }
}

/** One account's stream: gaps, keys numbered twice, and the executed orders' updates it lacks. */
async function checkStream(
  log: DeliveryLog<OrderUpdate>,
  account: string,
  expected: readonly OrderEvent[],
  out: { counts: LiveCounts; problems: string[] },
): Promise<void> {
  const { counts, problems } = out;
  const stream = orderStream(account);
  const last = await log.last(stream);
  const entries = await log.since(stream, 0, last + 1);
  // What TTL removed is the oldest: the entries left run from `first` to `last`, one seq each.
  const first = entries[0]?.seq ?? last + 1;
  counts.liveUpdates += entries.length;
  counts.liveUpdatesExpired += first - 1;
  const gapFree = entries.every((e, i) => e.seq === first + i) && first + entries.length - 1 === last;
  if (!gapFree) problems.push(`live delivery ${stream}: seqs ${first}..${last} are not gap-free`);
  const seqOf = new Map<string, number>();
  for (const { seq, payload } of entries) {
    const key = updateKey(payload);
    if (seqOf.has(key)) {
      counts.liveUpdatesTwice++;
      problems.push(`live delivery ${stream}: ${key} numbered twice (seqs ${seqOf.get(key)} and ${seq})`);
    } else seqOf.set(key, seq);
  }
  for (const event of expected) {
    if (seqOf.has(updateKey({ ...event, account }))) continue;
    counts.liveUpdatesMissing++;
    if (counts.liveUpdatesMissing <= 3)
      problems.push(`live delivery ${stream}: no update for ${event.orderId} (${event.status})`);
  }
}

/**
 * The check, on a stack whose outputs name the delivery log (WsDeliveryLogTableName; one deployed before it has
 * none, and is skipped with a note).
 */
export async function checkLiveDelivery(sqs: SQSClient, input: LiveCheckInput): Promise<LiveCheckResult> {
  const { outputs } = input;
  const table = outputs.WsDeliveryLogTableName;
  if (!table)
    return { counts: {}, problems: [], check: 'live delivery: not checked (the stack has no delivery log output)' };
  const counts: LiveCounts = { liveUpdates: 0, liveUpdatesMissing: 0, liveUpdatesTwice: 0, liveUpdatesExpired: 0 };
  const out = {
    counts,
    problems: [] as string[],
    check: `live delivery: each executed order's update numbered once in its account's stream of ${table}, seqs gap-free`,
  };
  const queues = [outputs.WsAccountUpdatesQueueUrl, outputs.WsOrderEventsQueueUrl].filter((u): u is string => !!u);
  const queued = await waitForDrain(sqs, queues, input);
  if (queued > 0) out.problems.push(`live delivery did not drain: ${queued} update message(s) still queued`);
  const since = (input.now ?? Date.now()) - LIVE_CHECK_WINDOW_MS;
  const recent = input.events.filter((e) => e.account !== undefined && e.executedTs >= since);
  const byAccount = byGroup(recent, (e) => e.account!);
  const documents = createDocumentClient();
  try {
    const log = new DeliveryLog<OrderUpdate>(documents, table, 0);
    for (const [account, expected] of byAccount) await checkStream(log, account, expected, out);
  } finally {
    documents.destroy();
  }
  return out;
}
