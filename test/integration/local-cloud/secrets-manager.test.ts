import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { startEdge, type Edge } from '../../../local-cloud/edge';
import { startRaftCluster, type RaftCluster } from '../../../local-cloud/raft-cluster';
import { lazyLedgerClient } from '../../../shared/aws/ledger';
import { decodeScopedKey } from '../../../shared/ledger-contract/auth';
import { emulatorBackends } from './fixtures/runtime-helpers';

/**
 * The edge's Secrets Manager through the real SDK, and the two product paths that run on it: the deploy-time
 * issuer (infra/handlers/raft-client-keys.ts) writing each function's scoped key from the root secret, and a
 * function reading its key by RAFT_CLIENT_KEY_ARN to place an order on a real three-node cluster.
 */

jest.setTimeout(120_000);

const ROOT = 'secrets-manager-test-root-0123456789abcdef';
const run = Math.random().toString(36).slice(2, 8);

describe('Secrets Manager on the edge', () => {
  let edge: Edge;
  let sm: SecretsManagerClient;
  const saved = { ...process.env };

  beforeAll(async () => {
    edge = await startEdge({ port: 0, backends: emulatorBackends() });
    // What a function or the issuer sees in the embedded cloud: the endpoint by the SDK's standard variable.
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: edge.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    sm = new SecretsManagerClient({});
  });
  afterAll(async () => {
    process.env = saved;
    sm?.destroy();
    await edge?.stop();
  });

  test('versions and stages as on AWS: put moves AWSCURRENT, keeps AWSPREVIOUS; retries are idempotent', async () => {
    const name = `sm-${run}/stages`;
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    expect(created.ARN).toMatch(
      new RegExp(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-[0-9a-f]{6}$`),
    );
    const token = 'a'.repeat(32);
    const put = await sm.send(
      new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'two', ClientRequestToken: token }),
    );
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    // The same token and value again (a retried request): the same version, nothing new.
    const again = await sm.send(
      new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }),
    );
    expect(again.VersionId).toBe(put.VersionId);
    await expect(
      sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'other', ClientRequestToken: token })),
    ).rejects.toMatchObject({ name: 'ResourceExistsException' });
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('two');
    const previous = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    expect(previous.SecretString).toBe('one');
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    expect(Object.values(described.VersionIdsToStages ?? {}).sort()).toEqual([['AWSCURRENT'], ['AWSPREVIOUS']]);
    await sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
    });
    await expect(sm.send(new CreateSecretCommand({ Name: 'bad name!', SecretString: 'x' }))).rejects.toMatchObject({
      name: 'InvalidParameterException',
    });
  });

  test("the issuer writes each function's scoped key; a function reads its key by ARN and places an order", async () => {
    const root = await sm.send(new CreateSecretCommand({ Name: `sm-${run}/root`, SecretString: ROOT }));
    const write = await sm.send(new CreateSecretCommand({ Name: `sm-${run}/orders-write` }));
    const read = await sm.send(new CreateSecretCommand({ Name: `sm-${run}/read` }));
    // The custom resource's handler as CloudFormation invokes it (its SDK client finds the edge by AWS_ENDPOINT_URL).
    const { handler } = await import('../../../infra/handlers/raft-client-keys');
    const event = {
      RequestType: 'Create',
      ResourceProperties: {
        ServiceToken: 'x',
        RootSecretArn: root.ARN,
        Keys: { 'orders:write': write.ARN, read: read.ARN },
      },
    } as unknown as CloudFormationCustomResourceEvent;
    await handler(event);
    await handler(event); // a repeated deploy writes the same values
    const writeKey = (await sm.send(new GetSecretValueCommand({ SecretId: write.ARN }))).SecretString as string;
    expect(decodeScopedKey(writeKey).scope).toBe('orders:write');
    expect(
      decodeScopedKey((await sm.send(new GetSecretValueCommand({ SecretId: read.ARN }))).SecretString as string).scope,
    ).toBe('read');

    const cluster: RaftCluster = await startRaftCluster({ secret: ROOT });
    try {
      const settings = { RAFT_MEMBERS: cluster.httpUrls, RAFT_CLIENT_KEY_ARN: write.ARN };
      const client = await lazyLedgerClient(settings, () => sm, 'orders:write')();
      const order = {
        orderId: `sm-${run}-1`,
        account: 'acct',
        symbol: 'AAPL',
        side: 'BUY' as const,
        quantity: 1,
        price: 10,
      };
      expect(await client.applyOrder(order)).toMatchObject({ status: 'ACCEPTED' });
      // The read key cannot be used where orders:write is needed.
      const wrong = { RAFT_MEMBERS: cluster.httpUrls, RAFT_CLIENT_KEY_ARN: read.ARN };
      await expect(lazyLedgerClient(wrong, () => sm, 'orders:write')()).rejects.toThrow('has scope read');
    } finally {
      await cluster.stop();
    }
  });
});
