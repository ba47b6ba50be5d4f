import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type SQSClient } from '@aws-sdk/client-sqs';
import { parseCommands } from '../../shared/domain/execution';
import { OrderEventSchema, type OrderEvent } from '../../shared/domain/event';
import type { Position } from '../../shared/ledger-contract';
import { drainQueueInto, readRecords, recordFiles, type StackInfo } from '../../local-cloud';
import { sleep } from '../../shared/util/wait';
import { checkExecutions, tallyEvents, type EventTally } from './event-tally';
import { parseJson } from '../../shared/util/json';
import { createDocumentClient } from '../../shared/aws/clients';
import { peekMessages, queueDepth } from '../../shared/aws/queues';
import { checkLiveDelivery } from './verify-live';

/** How verify reads each Raft node (its own state machine, not a redirect to the leader). */
export interface RaftReader {
  nodeIds: string[];
  positions(nodeId: string): Promise<Position[]>;
  waitConverged(): Promise<void>;
  /** The highest commit index any node reports (to see that the ledger has stopped moving). */
  commitIndex(): Promise<number>;
}

export interface VerifyReport {
  ok: boolean;
  counts: Record<string, number>;
  problems: string[];
  /** What was checked, and against what record (printed with the result). */
  checks: string[];
}

export interface VerifyOptions {
  /** How long to wait for commands received so far to get their events (default 60 s). */
  settleTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * Which record lists the commands that must each end in one event. `runtime` (default): every command the
   * embedded runtime received from the commands queue. `ordersTable`, for a deployed stack, where no one sees
   * the commands queue's deliveries: execute's claims in the orders table — completed claims name their order,
   * claims still in progress are counted, and commands in the commands DLQ (never executed) are problems.
   */
  commandRecord?: 'runtime' | 'ordersTable';
}

/** The order commands the embedded runtime recorded receiving (one entry per delivery), and how many were not valid commands. */
export function readCommandRecords(file: string): {
  commands: { orderId: string; messageId: string; tickTs: number }[];
  bad: number;
} {
  const commands: { orderId: string; messageId: string; tickTs: number }[] = [];
  let bad = 0;
  for (const r of readRecords(file)) {
    // A message carries one command or several of a symbol (packed): each is a command received.
    for (const parsed of parseCommands(r.body)) {
      if (parsed.ok) {
        const { order, tickTs } = parsed.command;
        commands.push({ orderId: order.orderId, messageId: r.messageId, tickTs });
      } else bad++;
    }
  }
  return { commands, bad };
}

/**
 * Checks the pipeline's promises on what it did so far:
 * 1. no order was executed twice: one (orderId, seq) per order id (a redelivery of one message is not two, nor is
 *    a re-publish of the same execution after the FIFO dedup window, which is counted as republishedEvents);
 * 2. every command that reached the commands queue (as the runtime recorded it) has exactly one terminal event;
 * 3. the accepted orders' seqs are unique and without gaps (1..N);
 * 4. every Raft node's positions equal the sum of the accepted orders;
 * 5. every executed order's live update is numbered once in its account's delivery-log stream, gap-free
 *    (tools/lib/verify-live.ts);
 * and that each event's order has a completed claim in the orders table with the same outcome.
 * Commands received before verify started are waited for (up to settleTimeoutMs); later ones are left to the next run.
 */
export async function verifyPipeline(
  info: Pick<StackInfo, 'dataDir' | 'outputs' | 'tradingAccount'>,
  sqs: SQSClient,
  raft: RaftReader,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  // The events and the positions are read at different moments; if the ledger moved in between (say a Kinesis
  // mapping's retry backoff ended after the pipeline looked quiet and released more ticks), the comparison is
  // between two states, so it is made again over a new quiet state.
  for (let attempt = 1; ; attempt++) {
    const { report, ledgerMoved } = await verifyOnce(info, sqs, raft, opts);
    if (!ledgerMoved || attempt >= MAX_VERIFY_ATTEMPTS) return report;
    (opts.log ?? (() => undefined))('the ledger moved while verifying; verifying again over a quiet pipeline');
  }
}

const MAX_VERIFY_ATTEMPTS = 5;

type VerifyInfo = Pick<StackInfo, 'dataDir' | 'outputs' | 'tradingAccount'>;
type Files = ReturnType<typeof recordFiles>;
/** The orders the commands record names, each with the SQS message ids that carried it. */
interface CommandRecord {
  byOrder: Map<string, Set<string>>;
  bad: number;
  inProgress: number;
}
type EventRecord = EventTally;
/** What each check adds to: the report's counts and problems. */
interface Tally {
  counts: Record<string, number>;
  problems: string[];
}

async function verifyOnce(
  info: VerifyInfo,
  sqs: SQSClient,
  raft: RaftReader,
  opts: VerifyOptions,
): Promise<{ report: VerifyReport; ledgerMoved: boolean }> {
  const files = recordFiles(info.dataDir);
  const fromClaims = opts.commandRecord === 'ordersTable';
  const { commands, events, quietCommit, problems } = await waitForQuiet(info, sqs, raft, files, opts);
  const counts: Record<string, number> = {
    [fromClaims ? 'completedClaims' : 'commands']: commands.byOrder.size,
    events: events.byOrder.size,
    accepted: 0,
    rejected: 0,
  };
  const tally: Tally = { counts, problems };
  checkOneEventPerCommand(commands, events, tally);
  await checkDeadLetters(info, sqs, fromClaims, commands, tally);
  await checkTicksGivenUp(info, sqs, tally);
  const accepted = [...events.byOrder.values()].map((e) => e.event).filter((e) => e.status === 'ACCEPTED');
  checkSeqs(accepted, tally);
  await checkClaims(info.outputs.OrdersTableName, events, tally);
  await checkPositions(raft, info.tradingAccount, accepted, tally);
  const live = await checkLiveDelivery(sqs, {
    outputs: info.outputs,
    events: [...events.byOrder.values()].map((e) => e.event),
    deadline: Date.now() + (opts.settleTimeoutMs ?? 60_000),
    ...(opts.log ? { log: opts.log } : {}),
  });
  Object.assign(counts, live.counts);
  problems.push(...live.problems);
  const checks = [
    fromClaims
      ? "commands: execute's completed claims in the orders table (deliveries of the commands queue are not visible on a deployed stack), claims in progress, the commands DLQ"
      : 'commands: every command the runtime received from the commands queue',
    `events: drained from the events queue into ${files.events}`,
    'no tick given up by a stream consumer (its on-failure queue); each command has an event; no order executed twice (two seqs or outcomes for one order id; re-publishes of one execution counted apart); accepted seqs unique and 1..N without gaps',
    "each event's order has a completed claim with the same outcome",
    `positions: the accepted orders' sums against ${raft.nodeIds.join(', ')}`,
    live.check,
  ];
  const ledgerMoved = (await raft.commitIndex()) !== quietCommit;
  return { report: { ok: problems.length === 0, counts, problems, checks }, ledgerMoved };
}

async function readCommandRecord(info: VerifyInfo, files: Files, fromClaims: boolean): Promise<CommandRecord> {
  if (fromClaims) {
    const claims = await scanClaims(info.outputs.OrdersTableName);
    const byOrder = new Map([...claims.completed.keys()].map((id) => [id, new Set([id])]));
    return { byOrder, bad: 0, inProgress: claims.inProgress };
  }
  // By order id; a redelivered message appears more than once with the same messageId.
  const byOrder = new Map<string, Set<string>>();
  const { commands: received, bad } = readCommandRecords(files.commands);
  for (const c of received) byOrder.set(c.orderId, (byOrder.get(c.orderId) ?? new Set<string>()).add(c.messageId));
  return { byOrder, bad, inProgress: 0 };
}

/** The events drained so far, tallied by execution (see tools/lib/event-tally.ts). */
const readEventRecord = (file: string): EventRecord => tallyEvents(readRecords(file));

/**
 * The checks compare the ledger with the events, so they need a quiet pipeline: no command waiting or
 * in flight, no new command, and a ledger that has stopped moving, for two looks in a row. Returns the
 * records read at the last look, the commit index then, and a problem if the pipeline never went quiet.
 */
async function waitForQuiet(
  info: VerifyInfo,
  sqs: SQSClient,
  raft: RaftReader,
  files: Files,
  opts: VerifyOptions,
): Promise<{ commands: CommandRecord; events: EventRecord; quietCommit: number; problems: string[] }> {
  const log = opts.log ?? (() => undefined);
  const eventsUrl = info.outputs.EventsQueueUrl;
  if (!eventsUrl) throw new Error('stack info has no EventsQueueUrl');
  const fromClaims = opts.commandRecord === 'ordersTable';
  const problems: string[] = [];
  const deadline = Date.now() + (opts.settleTimeoutMs ?? 60_000);
  let previous = '';
  let quietLooks = 0;
  for (;;) {
    await drainQueueInto(sqs, eventsUrl, files.events);
    const commands = await readCommandRecord(info, files, fromClaims);
    const events = readEventRecord(files.events);
    const waiting = [...commands.byOrder.keys()].filter((id) => !events.byOrder.has(id)).length + commands.inProgress;
    const dlq = await queueDepth(sqs, info.outputs.CommandsDlqUrl);
    const queued = await queueDepth(sqs, info.outputs.CommandsQueueUrl);
    const quietCommit = await raft.commitIndex();
    const state = `${commands.byOrder.size}/${events.byOrder.size}/${quietCommit}`;
    quietLooks =
      queued === 0 && (fromClaims ? waiting === 0 : waiting <= dlq) && state === previous ? quietLooks + 1 : 0;
    previous = state;
    if (quietLooks >= 2) return { commands, events, quietCommit, problems };
    if (Date.now() > deadline) {
      problems.push(
        `the pipeline did not go quiet within ${Math.round((opts.settleTimeoutMs ?? 60_000) / 1000)} s ` +
          `(${queued} command(s) queued, ${waiting} without an event): is the feed still running? ` +
          `(npm start -- --feed-seconds N stops it after N s)`,
      );
      return { commands, events, quietCommit, problems };
    }
    log(`waiting for the pipeline to go quiet: ${queued} command(s) queued, ${waiting} without an event…`);
    await sleep(1000);
  }
}

/**
 * Every command has an event, no event lacks a command, and no order was executed twice: two seqs (or two
 * outcomes) for one order id. A re-publish of the same execution after the FIFO dedup window is allowed by the
 * event contract and counted apart (republishedEvents); the same seq with other content is a problem.
 */
function checkOneEventPerCommand(commands: CommandRecord, events: EventRecord, { counts, problems }: Tally): void {
  if (commands.bad > 0) problems.push(`${commands.bad} recorded command message(s) are not valid order commands`);
  const executions = checkExecutions(events);
  Object.assign(counts, executions.counts);
  problems.push(...executions.problems);
  const missing = [...commands.byOrder.keys()].filter((id) => !events.byOrder.has(id));
  counts.commandsWithoutEvent = missing.length;
  if (missing.length > 0)
    problems.push(`${missing.length} command(s) have no terminal event (e.g. ${missing.slice(0, 3).join(', ')})`);
  const orphanEvents = [...events.byOrder.keys()].filter((id) => !commands.byOrder.has(id));
  counts.eventsWithoutRecordedCommand = orphanEvents.length;
  if (orphanEvents.length > 0)
    problems.push(`${orphanEvents.length} event(s) for orders no recorded command asked for`);
}

/** Counts both DLQs; from claims, claims in progress and commands in the DLQ are problems. */
async function checkDeadLetters(
  info: VerifyInfo,
  sqs: SQSClient,
  fromClaims: boolean,
  commands: CommandRecord,
  { counts, problems }: Tally,
): Promise<void> {
  counts.commandsDlq = await queueDepth(sqs, info.outputs.CommandsDlqUrl);
  counts.eventsDlq = await queueDepth(sqs, info.outputs.EventsDlqUrl);
  if (!fromClaims) return;
  counts.claimsInProgress = commands.inProgress;
  if (commands.inProgress > 0)
    problems.push(`${commands.inProgress} order claim(s) are still in progress (a command executing, or stuck)`);
  // Without a record of deliveries, a command that reached the DLQ is the only sign of one never executed.
  if (counts.commandsDlq > 0) problems.push(`${counts.commandsDlq} command(s) are in the commands DLQ`);
}

/**
 * No acknowledged tick was given up on: a stream consumer's on-failure queue holds the batches its mapping stopped
 * retrying (Lambda's record: the shard and sequence range, `KinesisBatchInfo`), and such ticks never became orders.
 * A poison record the consumer itself set aside (its own message, with the reason and the record) is counted apart:
 * it can never become a tick.
 */
async function checkTicksGivenUp(info: VerifyInfo, sqs: SQSClient, { counts, problems }: Tally): Promise<void> {
  counts.ticksGivenUp = 0;
  // A poison record is set aside again when its batch is retried for another reason: counted once, by its record.
  const poison = new Set<string>();
  const queues = {
    ProcessFailureQueue: info.outputs.ProcessFailureQueueUrl,
    MarketDataFailureQueue: info.outputs.MarketDataFailureQueueUrl,
  };
  for (const [name, url] of Object.entries(queues)) {
    if (!url) continue;
    let givenUp = 0;
    for (const body of await peekMessages(sqs, url)) {
      const message = parseJson(body) as { KinesisBatchInfo?: { batchSize?: number }; eventID?: string } | undefined;
      if (message?.KinesisBatchInfo) givenUp += message.KinesisBatchInfo.batchSize ?? 1;
      else poison.add(`${name} ${message?.eventID ?? body}`);
    }
    counts.ticksGivenUp += givenUp;
    if (givenUp > 0)
      problems.push(
        `${givenUp} tick(s) in ${name} were given up by the stream mapping after its retries: acknowledged, never processed`,
      );
  }
  counts.poisonRecords = poison.size;
}

/** The accepted orders' seqs are unique and run 1..N without gaps. */
function checkSeqs(accepted: OrderEvent[], { counts, problems }: Tally): void {
  const seqs = accepted.map((e) => e.seq ?? 0).sort((a, b) => a - b);
  const uniqueSeqs = new Set(seqs);
  if (uniqueSeqs.size !== seqs.length)
    problems.push(`${seqs.length - uniqueSeqs.size} seq(s) are used by more than one order`);
  if (seqs.length > 0 && (seqs[0] !== 1 || seqs[seqs.length - 1] !== uniqueSeqs.size)) {
    problems.push(
      `seqs are not 1..${uniqueSeqs.size} without gaps (lowest ${seqs[0]}, highest ${seqs[seqs.length - 1]})`,
    );
  }
  counts.maxSeq = seqs[seqs.length - 1] ?? 0;
}

/** Orders table: each event's order has a completed claim holding the same outcome. */
async function checkClaims(tableName: string | undefined, events: EventRecord, { counts, problems }: Tally) {
  const scanned = await scanClaims(tableName);
  const claims = scanned.completed;
  counts.completedClaims = claims.size;
  let claimMismatch = 0;
  for (const [orderId, e] of events.byOrder) {
    const claim = claims.get(orderId);
    if (
      !claim ||
      claim.status !== 'COMPLETED' ||
      claim.event?.seq !== e.event.seq ||
      claim.event?.status !== e.event.status
    ) {
      claimMismatch++;
      if (claimMismatch > 3) continue;
      const unreadable = scanned.unreadable.get(orderId);
      const found = claim
        ? `${claim.status} seq ${claim.event?.seq}`
        : unreadable
          ? `an item whose event does not parse (${unreadable})`
          : 'missing';
      problems.push(`order ${orderId}: orders table claim is ${found}, event says seq ${e.event.seq}`);
    }
  }
  counts.claimMismatches = claimMismatch;
}

/** Positions: the trading account's per-symbol sum of accepted orders, on every node. */
async function checkPositions(
  raft: RaftReader,
  tradingAccount: string,
  accepted: OrderEvent[],
  { counts, problems }: Tally,
): Promise<void> {
  const expected = new Map<string, number>();
  for (const e of accepted)
    expected.set(e.symbol, (expected.get(e.symbol) ?? 0) + (e.side === 'BUY' ? e.quantity : -e.quantity));
  await raft.waitConverged();
  for (const nodeId of raft.nodeIds) {
    const actual = new Map<string, number>();
    for (const p of await raft.positions(nodeId)) {
      if (p.account !== tradingAccount) {
        problems.push(`${nodeId}: position for account ${p.account}, which no event accounts for`);
        continue;
      }
      actual.set(p.symbol, p.quantity);
    }
    for (const symbol of new Set([...expected.keys(), ...actual.keys()])) {
      const want = expected.get(symbol) ?? 0;
      const got = actual.get(symbol) ?? 0;
      if (want !== got) problems.push(`${nodeId}: position ${symbol} is ${got}, accepted orders sum to ${want}`);
    }
  }
  counts.raftNodesChecked = raft.nodeIds.length;
}

const SCAN_PAGE_ITEMS = 1_000;

/**
 * The orders table's records by order id; `unreadable` holds, by the item's own orderId, why an item's event does not
 * parse — so a failed check can tell a record that is not there from one it cannot read.
 */
async function scanClaims(tableName: string | undefined): Promise<{
  completed: Map<string, { status: string; event: OrderEvent | undefined }>;
  unreadable: Map<string, string>;
  inProgress: number;
}> {
  const out = new Map<string, { status: string; event: OrderEvent | undefined }>();
  const unreadable = new Map<string, string>();
  // Order records are written once, complete; nothing is ever in progress (kept for the report's shape).
  const inProgress = 0;
  if (!tableName) return { completed: out, unreadable, inProgress };
  const ddb = createDocumentClient();
  try {
    let start: Record<string, unknown> | undefined;
    do {
      // Limit: without one, DynamoDB Local reads the whole table into its heap for the first page — an
      // OutOfMemoryError at 164,500 order records in its 512 MB (a bench of 500, 1,000 and 1,200 orders/s for 60 s
      // each, session 29); with it, it pages. On AWS a page is 1 MB anyway, ~1,300 records.
      const page = await ddb.send(
        new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, Limit: SCAN_PAGE_ITEMS }),
      );
      for (const item of page.Items ?? []) {
        // Execute's order records (shared/aws/order-records.ts): the event it published, written once.
        const parsed = OrderEventSchema.safeParse(item.event);
        if (parsed.success) out.set(parsed.data.orderId, { status: 'COMPLETED', event: parsed.data });
        else
          unreadable.set(
            String(item.orderId),
            parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          );
      }
      start = page.LastEvaluatedKey;
    } while (start);
  } finally {
    ddb.destroy();
  }
  return { completed: out, unreadable, inProgress };
}
