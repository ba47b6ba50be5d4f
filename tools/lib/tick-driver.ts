import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import {
  initialFeedState,
  takeTicks,
  type MarketFeedConfig,
  type MarketFeedState,
} from '../../shared/domain/market-feed';
import type { Tick, TickRecord } from '../../shared/domain/tick';
import { sleep } from '../../shared/util/wait';

/** What one shard takes in writes: 1,000 records/s (ticks are ~250 B, far under its 1 MiB/s). */
const TICKS_PER_SHARD = 1000;

/**
 * Shards for a stream taking `ticksPerSecond`, as docs/deploy.md sizes the stack's (`shardCount`): the fewest whose
 * write limit takes the rate — 1, the stack's own default, up to 1,000 ticks/s. The bench sizes its stream from its
 * highest rate this way: more shards than the rate needs split the same ticks into smaller batches, each shard read
 * and each batch invoked on its own (at 20 ticks/s four shards doubled tick→event p50; docs/performance.md).
 */
export function shardsFor(ticksPerSecond: number): number {
  return Math.max(1, Math.ceil(ticksPerSecond / TICKS_PER_SHARD));
}

/**
 * Writes ticks straight to the stream in the record format ingest writes (TickRecord, partition key =
 * symbol) — for the bench and the end-to-end test, which need to control the rate and the timestamps
 * exactly. Failed entries are retried until they land. Resolves with the last sequence number written to
 * each shard, so a caller can wait for the stream's consumers to get past it.
 */
export async function putTicks(
  kinesis: KinesisClient,
  streamName: string,
  ticks: Tick[],
  extra: Buffer[] = [],
): Promise<Map<string, string>> {
  const now = Date.now();
  const last = new Map<string, string>();
  const entries = [
    ...ticks.map((tick) => {
      const tickId = tick.tickId ?? `tick-${tick.symbol}-${tick.ts}`;
      const record: TickRecord = {
        tick: { ...tick, tickId },
        correlationId: tickId,
        ingestedAt: now,
      };
      return { PartitionKey: tick.symbol, Data: Buffer.from(JSON.stringify(record)) };
    }),
    ...extra.map((data) => ({ PartitionKey: 'MALFORMED', Data: data })),
  ];
  for (let i = 0; i < entries.length; i += 500) {
    let chunk = entries.slice(i, i + 500);
    for (let attempt = 0; chunk.length > 0; attempt++) {
      const out = await kinesis.send(new PutRecordsCommand({ StreamName: streamName, Records: chunk }));
      for (const r of out.Records ?? []) noteLatest(last, r.ShardId, r.SequenceNumber);
      chunk = chunk.filter((_, n) => out.Records?.[n]?.ErrorCode !== undefined);
      if (chunk.length > 0) await sleep(Math.min(1000, 50 * 2 ** attempt));
    }
  }
  return last;
}

function noteLatest(last: Map<string, string>, shardId?: string, seq?: string): void {
  if (!shardId || !seq) return;
  const held = last.get(shardId);
  if (held === undefined || BigInt(seq) > BigInt(held)) last.set(shardId, seq);
}

/** A seeded random-walk tick source (the market feed's generator) with wall-clock timestamps. */
export class TickSource {
  private state: MarketFeedState;
  private readonly config: MarketFeedConfig;

  constructor(symbols: string[], seed: string) {
    this.config = { symbols, seed, ticksPerSecond: 1000, startTs: Date.now(), volatility: 0.004 };
    this.state = initialFeedState(this.config);
  }

  next(count: number): Tick[] {
    const out = takeTicks(this.config, this.state, count);
    this.state = out.state;
    const now = Date.now();
    return out.ticks.map((t) => ({ ...t, ts: now }));
  }
}
