import { FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { NodeStatus } from '../shared/ledger-contract';
import type { RecordedMessage } from './records';
import type { StackInfo } from './stack';
import { queueDepth } from '../shared/aws/queues';
import { sleep } from '../shared/util/wait';
import { createCloudWatchLogsClient, createKinesisClient } from '../shared/aws/clients';

export interface StatusSnapshot {
  at: number;
  ticksPerSecond: number;
  ticksTotal: number;
  acceptedPerSecond: number;
  rejectedPerSecond: number;
  accepted: number;
  rejected: number;
  duplicatesCaught: number;
  latencyP50Ms: number | undefined;
  latencyP99Ms: number | undefined;
  depths: Record<string, number | undefined>;
  raft: { id: string; url: string; status: NodeStatus | undefined }[];
}

interface EventSample {
  at: number;
  accepted: boolean;
  latencyMs: number;
}

const WINDOW_MS = 10_000;

export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * The numbers on `npm start`'s status screen: ticks/s (a tail reader on the stream), orders/s and
 * tick→event latency (from the order events as they are recorded: the event message's SentTimestamp
 * minus the tick's timestamp), duplicates caught (execute's DuplicatesCaught metric, read back from
 * its EMF log lines through the CloudWatch Logs API), queue depths and each Raft node's /v1/status.
 */
export class StatusTracker {
  private readonly kinesis = createKinesisClient();
  private readonly logs = createCloudWatchLogsClient();
  private readonly events: EventSample[] = [];
  private readonly ticks: { at: number; count: number }[] = [];
  private ticksTotal = 0;
  private accepted = 0;
  private rejected = 0;
  private duplicates = 0;
  private logsFrom = Date.now() - 1000;
  private readonly seenLogEvents = new Set<string>();
  private iterators = new Map<string, string>();
  private stopped = false;
  private tail: Promise<void> | undefined;

  constructor(
    private readonly info: StackInfo,
    private readonly sqs: SQSClient,
    private readonly raft: {
      nodes: { id: string; httpUrl: string }[];
      status(id: string): Promise<NodeStatus>;
    },
  ) {}

  onEvents(records: RecordedMessage[]): void {
    for (const r of records) {
      let event: { status?: string; tickTs?: number };
      try {
        event = JSON.parse(r.body) as typeof event;
      } catch {
        continue;
      }
      const accepted = event.status === 'ACCEPTED';
      if (accepted) this.accepted++;
      else this.rejected++;
      this.events.push({ at: r.recordedAt, accepted, latencyMs: r.sentAt - (event.tickTs ?? r.sentAt) });
    }
  }

  start(): void {
    this.tail = this.tailStream();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.tail;
    this.kinesis.destroy();
    this.logs.destroy();
  }

  async snapshot(): Promise<StatusSnapshot> {
    const now = Date.now();
    while (this.events[0] && this.events[0].at < now - WINDOW_MS) this.events.shift();
    while (this.ticks[0] && this.ticks[0].at < now - WINDOW_MS) this.ticks.shift();
    const windowS = WINDOW_MS / 1000;
    const latencies = this.events.map((e) => e.latencyMs).sort((a, b) => a - b);
    await this.readDuplicates().catch(() => undefined);
    const o = this.info.outputs;
    const queues: [string, string | undefined][] = [
      ['commands', o.CommandsQueueUrl],
      ['commandsDlq', o.CommandsDlqUrl],
      ['events', o.EventsQueueUrl],
      ['eventsDlq', o.EventsDlqUrl],
      ['processFailures', o.ProcessFailureQueueUrl],
    ];
    const depths = Object.fromEntries(
      await Promise.all(queues.map(async ([name, url]) => [name, await this.depth(url)] as const)),
    );
    const raft = await Promise.all(
      this.raft.nodes.map(async (n) => ({
        id: n.id,
        url: n.httpUrl,
        status: await this.raft.status(n.id).catch(() => undefined),
      })),
    );
    return {
      at: now,
      ticksPerSecond: this.ticks.reduce((s, t) => s + t.count, 0) / windowS,
      ticksTotal: this.ticksTotal,
      acceptedPerSecond: this.events.filter((e) => e.accepted).length / windowS,
      rejectedPerSecond: this.events.filter((e) => !e.accepted).length / windowS,
      accepted: this.accepted,
      rejected: this.rejected,
      duplicatesCaught: this.duplicates,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      depths,
      raft,
    };
  }

  private async depth(url: string | undefined): Promise<number | undefined> {
    if (!url) return undefined;
    // A status line must not fail because one queue could not be read: it shows "-" for it.
    return queueDepth(this.sqs, url).catch(() => undefined);
  }

  /** Sums execute's DuplicatesCaught EMF values logged since the last read. */
  private async readDuplicates(): Promise<void> {
    const group = Object.entries(this.info.functions).find(([id]) => id.startsWith('Execute'))?.[1].logGroup;
    if (!group) return;
    let nextToken: string | undefined;
    do {
      const page = await this.logs.send(
        new FilterLogEventsCommand({
          logGroupName: group,
          filterPattern: '"DuplicatesCaught"',
          startTime: this.logsFrom,
          nextToken,
        }),
      );
      for (const e of page.events ?? []) {
        if (!e.eventId || this.seenLogEvents.has(e.eventId)) continue;
        this.seenLogEvents.add(e.eventId);
        this.logsFrom = Math.max(this.logsFrom, (e.timestamp ?? 0) - 5000);
        try {
          const value = (JSON.parse(e.message ?? '') as { DuplicatesCaught?: number | number[] }).DuplicatesCaught;
          this.duplicates += Array.isArray(value) ? value.reduce((a, b) => a + b, 0) : (value ?? 0);
        } catch {
          // not an EMF line
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
  }

  /** Counts records arriving on every shard (from LATEST: what the tracker sees is what arrives while it runs). */
  private async tailStream(): Promise<void> {
    const stream = this.info.outputs.TicksStreamName;
    if (!stream) return;
    while (!this.stopped) {
      try {
        if (this.iterators.size === 0) {
          const shards = await this.kinesis.send(new ListShardsCommand({ StreamName: stream }));
          for (const s of shards.Shards ?? []) {
            const it = await this.kinesis.send(
              new GetShardIteratorCommand({ StreamName: stream, ShardId: s.ShardId, ShardIteratorType: 'LATEST' }),
            );
            if (it.ShardIterator && s.ShardId) this.iterators.set(s.ShardId, it.ShardIterator);
          }
        }
        for (const [shard, iterator] of this.iterators) {
          const out = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
          const n = out.Records?.length ?? 0;
          if (n > 0) {
            this.ticks.push({ at: Date.now(), count: n });
            this.ticksTotal += n;
          }
          if (out.NextShardIterator) this.iterators.set(shard, out.NextShardIterator);
          else this.iterators.delete(shard);
        }
      } catch {
        this.iterators.clear();
      }
      await sleep(500);
    }
  }
}

export function renderStatus(s: StatusSnapshot, startedAt: number): string[] {
  const ms = (v: number | undefined) => (v === undefined ? '—' : `${Math.round(v)} ms`);
  const d = (v: number | undefined) => (v === undefined ? '?' : String(v));
  const lines = [
    `embedded trading pipeline — up ${Math.round((s.at - startedAt) / 1000)} s   (Ctrl-C stops everything)`,
    `ticks/s ${s.ticksPerSecond.toFixed(1).padStart(8)}   ticks seen ${s.ticksTotal}`,
    `orders/s accepted ${s.acceptedPerSecond.toFixed(1).padStart(6)}  rejected ${s.rejectedPerSecond.toFixed(1).padStart(6)}   total accepted ${s.accepted} rejected ${s.rejected}`,
    `duplicates caught ${s.duplicatesCaught}   tick→event latency p50 ${ms(s.latencyP50Ms)}  p99 ${ms(s.latencyP99Ms)} (last 10 s)`,
    `queues: commands ${d(s.depths.commands)}  commands DLQ ${d(s.depths.commandsDlq)}  events ${d(s.depths.events)}  events DLQ ${d(s.depths.eventsDlq)}  process failures ${d(s.depths.processFailures)}`,
  ];
  for (const n of s.raft) {
    lines.push(
      n.status
        ? `raft ${n.id} ${n.status.role.padEnd(9)} term ${n.status.term}  commit ${n.status.commitIndex}  applied ${n.status.appliedIndex}  ${n.url}`
        : `raft ${n.id} unreachable  ${n.url}`,
    );
  }
  return lines;
}

export function statusLine(s: StatusSnapshot): string {
  const raft = s.raft
    .map((n) => (n.status ? `${n.id}:${n.status.role[0]}/t${n.status.term}/c${n.status.commitIndex}` : `${n.id}:down`))
    .join(' ');
  return (
    `${new Date(s.at).toISOString()} ticks/s=${s.ticksPerSecond.toFixed(1)} accepted/s=${s.acceptedPerSecond.toFixed(1)} rejected/s=${s.rejectedPerSecond.toFixed(1)} ` +
    `dups=${s.duplicatesCaught} p50=${s.latencyP50Ms ?? '-'}ms p99=${s.latencyP99Ms ?? '-'}ms ` +
    `q=${s.depths.commands ?? '?'}/${s.depths.commandsDlq ?? '?'}dlq ev=${s.depths.events ?? '?'}/${s.depths.eventsDlq ?? '?'}dlq pf=${s.depths.processFailures ?? '?'} raft ${raft}`
  );
}
