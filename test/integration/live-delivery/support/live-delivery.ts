import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DELIVERY_LOG_KEY } from '../../../../shared/aws/delivery-log';
import { CONNECTIONS_KEY, SUBSCRIPTIONS_KEY } from '../../../../shared/aws/ws-connections';
import { uniqueName } from '../../pipeline/support/resources';

export interface LiveDeliveryTables {
  connections: string;
  subscriptions: string;
  deliveryLog: string;
}

/** The three live-delivery tables on DynamoDB Local, keyed by the product's own key constants. */
export async function createLiveDeliveryTables(dynamodb: DynamoDBClient): Promise<LiveDeliveryTables> {
  const tables = {
    connections: uniqueName('ws-connections'),
    subscriptions: uniqueName('ws-subscriptions'),
    deliveryLog: uniqueName('ws-delivery-log'),
  };
  const create = (name: string, hash: string, range?: { name: string; type: 'S' | 'N' }) =>
    dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [
          { AttributeName: hash, KeyType: 'HASH' },
          ...(range ? [{ AttributeName: range.name, KeyType: 'RANGE' as const }] : []),
        ],
        AttributeDefinitions: [
          { AttributeName: hash, AttributeType: 'S' },
          ...(range ? [{ AttributeName: range.name, AttributeType: range.type }] : []),
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  await Promise.all([
    create(tables.connections, CONNECTIONS_KEY.partitionKey),
    create(tables.subscriptions, SUBSCRIPTIONS_KEY.partitionKey, { name: SUBSCRIPTIONS_KEY.sortKey, type: 'S' }),
    create(tables.deliveryLog, DELIVERY_LOG_KEY.partitionKey, { name: DELIVERY_LOG_KEY.sortKey, type: 'N' }),
  ]);
  return tables;
}

export async function deleteLiveDeliveryTables(dynamodb: DynamoDBClient, tables: LiveDeliveryTables): Promise<void> {
  await Promise.all(
    Object.values(tables).map((name) =>
      dynamodb.send(new DeleteTableCommand({ TableName: name })).catch(() => undefined),
    ),
  );
}

/**
 * A stand-in for API Gateway's @connections endpoint (POST <stage>/@connections/{id}), over a real socket, for
 * the handler tests that run before the embedded cloud emulates WebSocket APIs: the real
 * @aws-sdk/client-apigatewaymanagementapi client talks to it. It records what each connection received, answers
 * 410 GoneException (the header and body API Gateway sends) for a connection marked gone, and 500 for one marked
 * failing — the one fault API Gateway cannot be made to produce on demand. The end-to-end test goes through the
 * emulation itself.
 */
export class ConnectionsEndpoint {
  readonly received = new Map<string, unknown[]>();
  readonly gone = new Set<string>();
  readonly failing = new Set<string>();
  private server?: Server;
  url = '';

  async start(stage = 'live'): Promise<void> {
    this.server = createServer((req, res) => {
      const match = new RegExp(`^/${stage}/@connections/([^/?]+)$`).exec(req.url ?? '');
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const id = match ? decodeURIComponent(match[1]!) : undefined;
        if (!id || req.method !== 'POST') return void res.writeHead(404).end();
        if (this.gone.has(id))
          return void res
            .writeHead(410, { 'x-amzn-errortype': 'GoneException', 'content-type': 'application/json' })
            .end('{"message":null}');
        if (this.failing.has(id)) return void res.writeHead(500).end('{"message":"Internal server error"}');
        this.received.set(id, [...(this.received.get(id) ?? []), JSON.parse(Buffer.concat(chunks).toString('utf8'))]);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/${stage}`;
  }

  /** What `id` received, emptying its inbox. */
  take(id: string): Record<string, unknown>[] {
    const got = (this.received.get(id) ?? []) as Record<string, unknown>[];
    this.received.delete(id);
    return got;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
