import {
  DescribeTableCommand,
  UpdateTableCommand,
  type AttributeDefinition,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  type GlobalSecondaryIndexDescription,
  type ProvisionedThroughput,
} from '@aws-sdk/client-dynamodb';
import { waitFor } from '../../shared/util/wait';

/** How long one index may take to build or drop (DynamoDB Local backfills at once; a big local table takes longer). */
const INDEX_TIMEOUT_MS = 120_000;

/**
 * A stack update of an existing table: its global secondary indexes made the template's. Without this a table
 * created by an earlier deploy kept the indexes it was created with, and a query of an index the new template added
 * failed (what `npm start` on a data dir from before the order history moved into OrdersTable did). One index per
 * UpdateTable, waiting for it before the next, as DynamoDB requires; removed indexes first. A key schema or
 * projection type changed under the same index name is refused, naming the index (CloudFormation replaces such an
 * index, a delete and a create; nothing here needs it, so it is not done half).
 */
export async function reconcileIndexes(
  client: DynamoDBClient,
  tableName: string,
  wanted: readonly GlobalSecondaryIndex[],
  attributeDefinitions: AttributeDefinition[],
  throughput?: ProvisionedThroughput,
): Promise<void> {
  const existing = (await describe(client, tableName)).GlobalSecondaryIndexes ?? [];
  const has = new Map(existing.map((g) => [g.IndexName!, g]));
  const wantedNames = new Set(wanted.map((g) => g.IndexName!));
  for (const g of wanted) {
    const current = has.get(g.IndexName!);
    const changed =
      current &&
      (JSON.stringify(current.KeySchema) !== JSON.stringify(g.KeySchema) ||
        current.Projection?.ProjectionType !== g.Projection?.ProjectionType);
    if (changed) {
      throw new Error(
        `table ${tableName}: index ${g.IndexName} changed its keys or projection; rename it to replace it`,
      );
    }
  }
  const deleted = existing.map((g) => g.IndexName!).filter((name) => !wantedNames.has(name));
  const created = wanted.filter((g) => !has.has(g.IndexName!));
  for (const IndexName of deleted) {
    await update(client, tableName, { GlobalSecondaryIndexUpdates: [{ Delete: { IndexName } }] });
    await settled(client, tableName, (indexes) => !indexes.some((g) => g.IndexName === IndexName));
  }
  for (const g of created) {
    await update(client, tableName, {
      AttributeDefinitions: attributeDefinitions,
      GlobalSecondaryIndexUpdates: [{ Create: { ...g, ...(throughput ? { ProvisionedThroughput: throughput } : {}) } }],
    });
    await settled(client, tableName, (indexes) =>
      indexes.some((i) => i.IndexName === g.IndexName && i.IndexStatus === 'ACTIVE'),
    );
  }
}

async function describe(client: DynamoDBClient, tableName: string) {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (!Table) throw new Error(`table ${tableName}: not described`);
  return Table;
}

function update(client: DynamoDBClient, tableName: string, change: Omit<UpdateTableCommand['input'], 'TableName'>) {
  return client.send(new UpdateTableCommand({ TableName: tableName, ...change }));
}

/** Until the table is ACTIVE again and its indexes pass `done`. */
function settled(
  client: DynamoDBClient,
  tableName: string,
  done: (indexes: GlobalSecondaryIndexDescription[]) => boolean,
): Promise<true> {
  return waitFor(`table ${tableName}'s index change`, INDEX_TIMEOUT_MS, async () => {
    const table = await describe(client, tableName);
    return table.TableStatus === 'ACTIVE' && done(table.GlobalSecondaryIndexes ?? []);
  });
}
