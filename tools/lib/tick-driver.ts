import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import {
  initialFeedState,
  takeTicks,
  type MarketFeedConfig,
  type MarketFeedState,
} from '../../shared/domain/market-feed';
import type { Tick, TickRecord } from '../../shared/domain/tick';
import { sleep } from '../../shared/util/wait';

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
