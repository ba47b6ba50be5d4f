import { CreateStreamCommand, DescribeStreamCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { ListTablesCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';

describe('emulated AWS services started by the test setup', () => {
  it('answer the real SDK clients through the standard endpoint variables', async () => {
    const kinesis = new KinesisClient({ requestHandler: new NodeHttpHandler() });
    await kinesis.send(new CreateStreamCommand({ StreamName: 'smoke', ShardCount: 1 }));
    const desc = await kinesis.send(new DescribeStreamCommand({ StreamName: 'smoke' }));
    expect(desc.StreamDescription?.StreamStatus).toBe('ACTIVE');
    const tables = await new DynamoDBClient({}).send(new ListTablesCommand({}));
    expect(Array.isArray(tables.TableNames)).toBe(true);
    const q = await new SQSClient({}).send(
      new CreateQueueCommand({ QueueName: 'smoke.fifo', Attributes: { FifoQueue: 'true' } }),
    );
    expect(q.QueueUrl).toContain('smoke.fifo');
  });
});
