import { CreateStreamCommand, DescribeStreamCommand, waitUntilStreamExists } from '@aws-sdk/client-kinesis';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { createDynamoDbClient, createKinesisClient, createSqsClient } from '../../shared/aws/clients';

describe('emulated AWS services started by the test setup', () => {
  it('answer the real SDK clients through the standard endpoint variables', async () => {
    const kinesis = createKinesisClient();
    await kinesis.send(new CreateStreamCommand({ StreamName: 'smoke', ShardCount: 1 }));
    // CreateStream answers before the stream is ACTIVE, on AWS and kinesalite alike (a timer there, which a loaded
    // machine once fired after the DescribeStream below): wait as a client of AWS must.
    await waitUntilStreamExists(
      { client: kinesis, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
      { StreamName: 'smoke' },
    );
    const desc = await kinesis.send(new DescribeStreamCommand({ StreamName: 'smoke' }));
    expect(desc.StreamDescription?.StreamStatus).toBe('ACTIVE');
    const tables = await createDynamoDbClient().send(new ListTablesCommand({}));
    expect(Array.isArray(tables.TableNames)).toBe(true);
    const q = await createSqsClient().send(
      new CreateQueueCommand({ QueueName: 'smoke.fifo', Attributes: { FifoQueue: 'true' } }),
    );
    expect(q.QueueUrl).toContain('smoke.fifo');
  });
});
