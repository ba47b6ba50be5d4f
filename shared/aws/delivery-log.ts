import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
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
 * - (stream, n ≥ 1): the update that got seq n;
 * - (`dedup#<stream>#<key>`, 0): which seq an update key got, so a redelivered event gets the same seq again.
 * A seq is given by one transaction that moves the counter from the value read (a condition), writes the entry
 * and writes the dedup row (condition: not there yet). Two writers racing on a stream: one wins, the other reads
 * again and retries; the same update twice: the second finds the dedup row and takes its seq. Hence no gaps (the
 * counter only moves together with the entry) and no doubles.
 */
export const DELIVERY_LOG_KEY = { partitionKey: 'stream', sortKey: 'seq' } as const;
export const DELIVERY_LOG_TTL_ATTRIBUTE = 'expiresAt';
const MAX_ATTEMPTS = 20;

export interface LogEntry<T> {
  seq: number;
  payload: T;
}

export class DeliveryLog<T> {
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
  async append(stream: string, key: string, payload: T): Promise<{ seq: number; duplicate: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const [dedup, counter] = await this.read(stream, key);
      if (dedup !== undefined) return { seq: dedup, duplicate: true };
      const seq = counter + 1;
      const expiresAt = Math.floor(this.now() / 1000) + this.retentionS;
      try {
        await this.db.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                Put: {
                  TableName: this.table,
                  Item: { stream, seq: 0, last: seq },
                  ...(counter === 0
                    ? { ConditionExpression: 'attribute_not_exists(#s)', ExpressionAttributeNames: { '#s': 'stream' } }
                    : {
                        ConditionExpression: '#last = :last',
                        ExpressionAttributeNames: { '#last': 'last' },
                        ExpressionAttributeValues: { ':last': counter },
                      }),
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: { stream, seq, key, payload, [DELIVERY_LOG_TTL_ATTRIBUTE]: expiresAt },
                },
              },
              {
                Put: {
                  TableName: this.table,
                  Item: { ...this.dedupKey(stream, key), assigned: seq, [DELIVERY_LOG_TTL_ATTRIBUTE]: expiresAt },
                  ConditionExpression: 'attribute_not_exists(#s)',
                  ExpressionAttributeNames: { '#s': 'stream' },
                },
              },
            ],
          }),
        );
        return { seq, duplicate: false };
      } catch (error) {
        // Lost a race (the counter moved, or the same update was just given its seq): read again, after a short
        // random pause — racing appenders retrying at once would keep colliding on the same counter.
        if (!(error instanceof TransactionCanceledException) || attempt >= MAX_ATTEMPTS) throw error;
        await sleep(Math.random() * Math.min(100, 5 * 2 ** attempt));
      }
    }
  }

  /** The dedup row's seq (if any) and the counter, read consistently in one call. */
  private async read(stream: string, key: string, attempt = 1): Promise<[number | undefined, number]> {
    const out = await this.db.send(
      new BatchGetCommand({
        RequestItems: {
          [this.table]: { Keys: [this.dedupKey(stream, key), { stream, seq: 0 }], ConsistentRead: true },
        },
      }),
    );
    // Two small keys never exceed BatchGetItem's limits; unprocessed keys only come from throttling: read again.
    if (Object.keys(out.UnprocessedKeys ?? {}).length > 0) {
      if (attempt >= MAX_ATTEMPTS) throw new Error(`delivery log ${this.table}: reads throttled ${attempt} times`);
      return this.read(stream, key, attempt + 1);
    }
    const items = out.Responses?.[this.table] ?? [];
    const dedup = items.find((i) => i.stream !== stream);
    const counter = items.find((i) => i.stream === stream);
    return [dedup?.assigned as number | undefined, (counter?.last as number | undefined) ?? 0];
  }

  /** The highest seq given in `stream` (0 when none). */
  async last(stream: string): Promise<number> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { stream, seq: 0 }, ConsistentRead: true }),
    );
    return (Item?.last as number | undefined) ?? 0;
  }

  /** Entries with seq > since, in seq order, at most `limit`. */
  async since(stream: string, since: number, limit: number): Promise<LogEntry<T>[]> {
    const out = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        // stream is a DynamoDB reserved word: named through #s.
        KeyConditionExpression: '#s = :s AND seq > :since',
        ExpressionAttributeNames: { '#s': 'stream' },
        ExpressionAttributeValues: { ':s': stream, ':since': since },
        ConsistentRead: true,
        Limit: limit,
      }),
    );
    return (out.Items ?? []).map((i) => ({ seq: i.seq as number, payload: i.payload as T }));
  }
}
