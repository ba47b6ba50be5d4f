import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  createCloudWatchLogsClient,
  createDocumentClient,
  createDynamoDbClient,
  createKinesisClient,
  createSecretsManagerClient,
  createSnsClient,
  createSqsClient,
} from '../../../shared/aws/clients';

/**
 * shared/aws/clients.ts builds every SDK client without the SDK's logger middleware, which would filter each call's
 * input and output for the no-op logger (docs/performance.md, session 32). That the clients still talk to the
 * emulators is every integration test's business.
 */
const ENV = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };

describe('SDK clients', () => {
  const saved = { ...process.env };
  beforeAll(() => Object.assign(process.env, ENV));
  afterAll(() => {
    process.env = saved;
  });

  const middlewares = (client: { middlewareStack: { identify(): string[] } }) =>
    client.middlewareStack.identify().map((entry) => entry.split(' ')[0]);

  it("removes the SDK's own middleware: a client built without the factory still has it under that name", () => {
    const plain = new DynamoDBClient({});
    expect(middlewares(plain)).toContain('loggerMiddleware');
    plain.destroy();
  });

  it.each([
    ['DynamoDB', createDynamoDbClient],
    ['DynamoDB document', createDocumentClient],
    ['Kinesis', createKinesisClient],
    ['SQS', createSqsClient],
    ['SNS', createSnsClient],
    ['CloudWatch Logs', createCloudWatchLogsClient],
    ['Secrets Manager', createSecretsManagerClient],
  ] as const)('%s: built without the logger middleware, the rest of the stack kept', (_name, create) => {
    const client = create();
    const names = middlewares(client);
    expect(names).not.toContain('loggerMiddleware');
    expect(names).toEqual(expect.arrayContaining(['retryMiddleware', 'httpSigningMiddleware']));
    client.destroy();
  });
});
