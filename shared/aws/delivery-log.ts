import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { chunksBy } from '../util/chunks';
import { sleep } from '../util/wait';
import {
  BatchGetCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';

/**
 * The delivery log: every order update the WebSocket API delivers, numbered per stream (an account's orders):
 * seq 1, 2, 3 … with no gaps and no number given twice, kept for `retentionS` (TTL) so a client that reconnects
 * can ask for what it missed (`resume {since}`).
 *
 * One table, key (`stream`, `seq`):
 * - (stream, 0): the counter, `last` = the highest seq given (never expires: a restarted count would reuse seqs);
 * - (stream, n ≥ 1): an entry — the updates that got seqs n, n + 1 … `last`, as one JSON string (`payloads`); an
 *   entry written before session 28 holds the one update that got seq n (`payload`), and both are read;
 * - (`dedup#<stream>#<key>`, 0): which seq an update key got, so a redelivered event gets the same seq again.
 * Seqs are given by one transaction that moves the counter from the value last seen (a condition), writes the
 * entry and writes the updates' dedup rows (condition: not there yet). Two writers racing on a stream: one wins, the
 * other learns the counter from its cancelled transaction and retries; the same update twice: the second finds the
 * dedup row and takes its seq. Hence no gaps (the counter only moves together with the entry) and no doubles.
 * One entry per transaction, not one per update: DynamoDB Local's cost is per item, and the log was two of the
 * three and a half items the pipeline wrote per order (docs/performance.md, session 28); on AWS an entry of thirty
 * ~600-byte updates (18 KB) costs 18 write units where thirty items cost 30, each rounded up to 1 KB. The payloads
 * are one string, not a list of maps: DynamoDB Local parses nested maps at about twice the cost
 * (docs/performance.md, session 26), and nothing queries inside them.
 */
export const DELIVERY_LOG_KEY = { partitionKey: 'stream', sortKey: 'seq' } as const;
export const DELIVERY_LOG_TTL_ATTRIBUTE = 'expiresAt';
const TTL = DELIVERY_LOG_TTL_ATTRIBUTE;
/** Attempts of one chunk: racing appenders of one stream each lose some rounds (one wins each); see appendChunk. */
const MAX_ATTEMPTS = 50;
/** Updates per transaction: TransactWriteItems takes 100 items: the counter, the entry and each update's dedup row. */
export const MAX_UPDATES_PER_ENTRY = 98;
/** An entry's payloads at most, in bytes: DynamoDB's items stop at 400 KB. */
const MAX_ENTRY_BYTES = 256 * 1024;
/** Streams whose counter a warm container remembers; past it the memory starts again (each costs one read). */
const MAX_CACHED_STREAMS = 10_000;

/**
 * What a cancelled append's CancellationReasons tell (one per item, in order: the counter, the entry, then each
 * update's dedup row): the counter's value when its condition failed, and the seq of each update whose dedup row was
 * there. Undefined when a failed condition came without the item (an emulator that does not return it) — then only
 * a read tells. A reason other than a failed condition (a conflict with another transaction) tells nothing new.
 */
function cancelledBy(
  error: TransactionCanceledException,
  fresh: readonly { key: string }[],
): { counter?: number; assigned: Map<string, number> } | undefined {
  const reasons = error.CancellationReasons ?? [];
  const failed = (i: number) => reasons[i]?.Code === 'ConditionalCheckFailed';
  if (reasons.some((r, i) => failed(i) && !r.Item)) return undefined;
  const assigned = new Map<string, number>();
  fresh.forEach(({ key }, i) => {
    if (failed(2 + i)) assigned.set(key, Number(reasons[2 + i]!.Item!.assigned?.N));
  });
  return { counter: failed(0) ? Number(reasons[0]!.Item!.last?.N ?? 0) : undefined, assigned };
}

export interface Appended {
  seq: number;
  duplicate: boolean;
}

export interface LogEntry<T> {
  seq: number;
  payload: T;
}

export class DeliveryLog<T> {
  private readonly counters = new Map<string, number>();

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly table: string,
    private readonly retentionS: number,
    private readonly now: () => number = Date.now,
  ) {}

  private dedupKey(stream: string, key: string) {
    return { stream: `dedup#${stream}#${key}`, seq: 0 };
  }

  /** Gives `payload` (identified by `key` within `stream`) its seq, or returns the seq it got before. */
  async append(stream: string, key: string, payload: T): Promise<Appended> {
    return (await this.appendAll(stream, [{ key, payload }]))[0]!;
  }

  /**
   * Gives each update its seq, in the order given (or returns the seq it got before), with one transaction per chunk
   * of updates when nobody else moved the counter (appendChunk) — an account's updates of a batch share one counter
   * move. Before batches, N updates cost N reads and N transactions, one after another (per-batch p90 9 s at 300
   * orders/s, docs/performance.md).
   */
  async appendAll(stream: string, updates: readonly { key: string; payload: T }[]): Promise<Appended[]> {
    const seqs = new Map<string, Appended>();
    const unique = [...new Map(updates.map((u) => [u.key, u])).values()];
    const pending = unique.map((u) => ({ key: u.key, json: JSON.stringify(u.payload) }));
    // Each chunk one transaction (the counter, the entry, a dedup row per update) and one entry under the item limit.
    for (const chunk of chunksBy(
      pending,
      MAX_UPDATES_PER_ENTRY,
      MAX_ENTRY_BYTES,
      (u) => Buffer.byteLength(u.json) + 1,
    )) {
      for (const [key, appended] of await this.appendChunk(stream, chunk)) seqs.set(key, appended);
    }
    return updates.map((u) => seqs.get(u.key)!);
  }

  /**
   * One chunk's transaction, from the counter this container last saw for the stream: no read first. A cancelled
   * transaction says why (ReturnValuesOnConditionCheckFailure): the counter as it stands, and the seq each update
   * already had — the next attempt starts from those. Only a stream this container has not seen, or a cancellation
   * that told nothing (a transaction conflict), costs the consistent read. Before, every attempt read first, and the
   * notifiers of 8 symbol groups appending to one account lost most of their transactions and reads to each other
   * (1,269 cancelled against 451 committed in a 600/s bench, docs/performance.md).
   */
  private async appendChunk(stream: string, updates: Pending[]): Promise<Map<string, Appended>> {
    const result = new Map<string, Appended>();
    let fresh = updates;
    let counter = this.counters.get(stream);
    for (let attempt = 1; ; attempt++) {
      if (counter === undefined) {
        const [assigned, last] = await this.read(
          stream,
          fresh.map((u) => u.key),
        );
        for (const [key, seq] of assigned) result.set(key, { seq, duplicate: true });
        fresh = fresh.filter((u) => !assigned.has(u.key));
        counter = last;
      }
      if (fresh.length === 0) return result;
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: this.appendItems(stream, fresh, counter) }));
      } catch (error) {
        this.counters.delete(stream);
        if (!(error instanceof TransactionCanceledException) || attempt >= MAX_ATTEMPTS) throw error;
        const learned = cancelledBy(error, fresh);
        for (const [key, seq] of learned?.assigned ?? []) result.set(key, { seq, duplicate: true });
        fresh = fresh.filter((u) => !learned?.assigned.has(u.key));
        counter = learned?.counter ?? (learned ? counter : undefined);
        // Appenders that lost to the same winner learned the same counter: a short random pause keeps them from
        // colliding again at once.
        await sleep(Math.random() * Math.min(20, 2 ** attempt));
        continue;
      }
      fresh.forEach((u, i) => result.set(u.key, { seq: counter! + 1 + i, duplicate: false }));
      this.remember(stream, counter + fresh.length);
      return result;
    }
  }

  /** The stream's counter as this container last wrote or saw it (a hint; the transaction's condition decides). */
  private remember(stream: string, counter: number): void {
    if (this.counters.size >= MAX_CACHED_STREAMS) this.counters.clear();
    this.counters.set(stream, counter);
  }

  /** The counter moved from `counter` by the number of updates (a condition), their entry, each one's dedup row. */
  private appendItems(stream: string, fresh: Pending[], counter: number) {
    const expiresAt = Math.floor(this.now() / 1000) + this.retentionS;
    const last = counter + fresh.length;
    const notThere = {
      ConditionExpression: 'attribute_not_exists(#s)',
      ExpressionAttributeNames: { '#s': 'stream' },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    const counterPut = {
      Put: {
        TableName: this.table,
        Item: { stream, seq: 0, last },
        ...(counter === 0
          ? notThere
          : {
              ConditionExpression: '#last = :last',
              ExpressionAttributeNames: { '#last': 'last' },
              ExpressionAttributeValues: { ':last': counter },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
            }),
      },
    };
    const payloads = `[${fresh.map((u) => u.json).join(',')}]`;
    const entryPut = {
      Put: { TableName: this.table, Item: { stream, seq: counter + 1, last, payloads, [TTL]: expiresAt } },
    };
    return [
      counterPut,
      entryPut,
      ...fresh.map(({ key }, i) => ({
        Put: {
          TableName: this.table,
          Item: { ...this.dedupKey(stream, key), assigned: counter + 1 + i, [TTL]: expiresAt },
          ...notThere,
        },
      })),
    ];
  }

  /** The seqs some of `keys` already got (their dedup rows) and the counter, read consistently in one call. */
  private async read(stream: string, keys: string[], attempt = 1): Promise<[Map<string, number>, number]> {
    const out = await this.db.send(
      new BatchGetCommand({
        RequestItems: {
          [this.table]: {
            Keys: [...keys.map((k) => this.dedupKey(stream, k)), { stream, seq: 0 }],
            ConsistentRead: true,
          },
        },
      }),
    );
    // At most MAX_UPDATES_PER_ENTRY + 1 = 99 small keys: within BatchGetItem's 100; unprocessed ones come only from
    // throttling.
    if (Object.keys(out.UnprocessedKeys ?? {}).length > 0) {
      if (attempt >= MAX_ATTEMPTS) throw new Error(`delivery log ${this.table}: reads throttled ${attempt} times`);
      return this.read(stream, keys, attempt + 1);
    }
    const items = out.Responses?.[this.table] ?? [];
    const prefix = this.dedupKey(stream, '').stream;
    const assigned = new Map(
      items
        .filter((i) => i.stream !== stream)
        .map((i) => [String(i.stream).slice(prefix.length), i.assigned as number] as const),
    );
    const counter = items.find((i) => i.stream === stream);
    return [assigned, (counter?.last as number | undefined) ?? 0];
  }

  /** The highest seq given in `stream` (0 when none). */
  async last(stream: string): Promise<number> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { stream, seq: 0 }, ConsistentRead: true }),
    );
    return (Item?.last as number | undefined) ?? 0;
  }

  /** Updates with seq > since, in seq order, at most `limit`. */
  async since(stream: string, since: number, limit: number): Promise<LogEntry<T>[]> {
    const out: LogEntry<T>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          // stream is a DynamoDB reserved word: named through #s. An entry holding since + 1 starts at most
          // MAX_UPDATES_PER_ENTRY - 1 before it; the counter (seq 0) is never read here.
          KeyConditionExpression: '#s = :s AND seq > :from',
          ExpressionAttributeNames: { '#s': 'stream' },
          ExpressionAttributeValues: { ':s': stream, ':from': Math.max(0, since - MAX_UPDATES_PER_ENTRY) },
          ConsistentRead: true,
          // Entries wholly at or before since come first, at most MAX_UPDATES_PER_ENTRY of them; each later one
          // holds at least one update.
          Limit: limit + MAX_UPDATES_PER_ENTRY,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) out.push(...entriesOf<T>(item).filter((e) => e.seq > since));
      startKey = page.LastEvaluatedKey;
    } while (startKey && out.length < limit);
    return out.slice(0, limit);
  }
}

/** An update waiting for its seq: its key and its payload as JSON (measured once, written as it is). */
interface Pending {
  key: string;
  json: string;
}

/** The updates an entry holds: `payloads` from seq on, or (written before session 28) the one `payload`. */
function entriesOf<T>(item: Record<string, unknown>): LogEntry<T>[] {
  const seq = item.seq as number;
  if (typeof item.payloads !== 'string') return [{ seq, payload: item.payload as T }];
  return (JSON.parse(item.payloads) as T[]).map((payload, i) => ({ seq: seq + i, payload }));
}
