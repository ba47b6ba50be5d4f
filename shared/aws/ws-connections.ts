import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { Role } from '../auth/principal';
import { ClientError, MAX_TOPICS_PER_CONNECTION } from '../domain/live-delivery';

/**
 * The WebSocket API's connections and who listens to what, in two tables:
 * - connections (key `connectionId`): the caller's principal as the $connect authorizer established it, and the
 *   topics it subscribed to (a string set), so $disconnect knows which rows to remove;
 * - subscriptions (key `topic` + `connectionId`): one row per (topic, connection), read with a consistent Query
 *   by the notifier — a subscription table rather than a GSI, because a GSI is eventually consistent and an
 *   update published just after `subscribed` would miss the new subscriber.
 * Both carry `expiresAt` (TTL): API Gateway closes a connection after 2 hours at most, so a row whose
 * $disconnect never ran (a crashed function) goes by itself; a post answered 410 removes it at once.
 */
export const CONNECTIONS_KEY = { partitionKey: 'connectionId' } as const;
export const SUBSCRIPTIONS_KEY = { partitionKey: 'topic', sortKey: 'connectionId' } as const;
export const WS_TTL_ATTRIBUTE = 'expiresAt';
/** API Gateway's maximum connection duration (2 h) plus a margin for the last messages. */
export const CONNECTION_TTL_S = 2 * 3600 + 600;

export interface Connection {
  connectionId: string;
  subject: string;
  account: string;
  roles: Role[];
  connectedAt: number;
  topics: string[];
}

const BATCH_WRITE_LIMIT = 25;

export class ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: { connections: string; subscriptions: string },
    private readonly now: () => number = Date.now,
  ) {}

  private expiresAt(): number {
    return Math.floor(this.now() / 1000) + CONNECTION_TTL_S;
  }

  async add(c: Omit<Connection, 'topics' | 'connectedAt'>): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tables.connections,
        Item: { ...c, connectedAt: this.now(), [WS_TTL_ATTRIBUTE]: this.expiresAt() },
      }),
    );
  }

  async get(connectionId: string): Promise<Connection | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tables.connections, Key: { connectionId }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const topics = Item.topics instanceof Set ? [...(Item.topics as Set<string>)] : [];
    return { ...(Item as Omit<Connection, 'topics'>), topics };
  }

  /**
   * Adds topics to a connection: the connection's set and the subscription rows in one transaction, so neither
   * exists without the other; refused when the connection is gone (closed meanwhile) or would hold too many.
   */
  async subscribe(connection: Connection, topics: string[]): Promise<void> {
    const fresh = topics.filter((t) => !connection.topics.includes(t));
    if (fresh.length === 0) return;
    if (connection.topics.length + fresh.length > MAX_TOPICS_PER_CONNECTION)
      throw new ClientError(
        'TOO_MANY_SUBSCRIPTIONS',
        `a connection may hold ${MAX_TOPICS_PER_CONNECTION} topics; it holds ${connection.topics.length}`,
      );
    const { connectionId } = connection;
    const expiresAt = this.expiresAt();
    // A transaction holds at most 100 items: one for the connection, the rest rows (MAX_SYMBOLS_PER_MESSAGE < 99).
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.tables.connections,
              Key: { connectionId },
              UpdateExpression: 'ADD #topics :t',
              ExpressionAttributeNames: { '#topics': 'topics' },
              ConditionExpression: 'attribute_exists(connectionId)',
              ExpressionAttributeValues: { ':t': new Set(fresh) },
            },
          },
          ...fresh.map((topic) => ({
            Put: { TableName: this.tables.subscriptions, Item: { topic, connectionId, [WS_TTL_ATTRIBUTE]: expiresAt } },
          })),
        ],
      }),
    );
  }

  async unsubscribe(connectionId: string, topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    await this.db.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: this.tables.connections,
              Key: { connectionId },
              UpdateExpression: 'DELETE #topics :t',
              ExpressionAttributeNames: { '#topics': 'topics' },
              ConditionExpression: 'attribute_exists(connectionId)',
              ExpressionAttributeValues: { ':t': new Set(topics) },
            },
          },
          ...topics.map((topic) => ({
            Delete: { TableName: this.tables.subscriptions, Key: { topic, connectionId } },
          })),
        ],
      }),
    );
  }

  /** Removes a connection and its subscription rows ($disconnect, or a post answered 410 Gone). Idempotent. */
  async remove(connectionId: string): Promise<void> {
    const connection = await this.get(connectionId);
    const keys = (connection?.topics ?? []).map((topic) => ({ DeleteRequest: { Key: { topic, connectionId } } }));
    for (let i = 0; i < keys.length; i += BATCH_WRITE_LIMIT) {
      let pending: typeof keys | undefined = keys.slice(i, i + BATCH_WRITE_LIMIT);
      // BatchWriteItem may leave some items unprocessed under throttling: write them again until none remain.
      while (pending && pending.length > 0) {
        const out = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.tables.subscriptions]: pending } }),
        );
        pending = out.UnprocessedItems?.[this.tables.subscriptions] as typeof keys | undefined;
      }
    }
    await this.db.send(new DeleteCommand({ TableName: this.tables.connections, Key: { connectionId } }));
  }

  /** The connections subscribed to a topic (a consistent read, every page). */
  async subscribers(topic: string): Promise<string[]> {
    const ids: string[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tables.subscriptions,
          KeyConditionExpression: '#topic = :t',
          ExpressionAttributeNames: { '#topic': 'topic' },
          ExpressionAttributeValues: { ':t': topic },
          ProjectionExpression: 'connectionId',
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) ids.push(item.connectionId as string);
      start = page.LastEvaluatedKey;
    } while (start);
    return ids;
  }
}
