import { DescribeStreamCommand } from '@aws-sdk/client-kinesis';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { createDynamoDbClient, createKinesisClient, createSqsClient } from '../../shared/aws/clients';
import { createStream } from './pipeline/support/resources';

describe('emulated AWS services started by the test setup', () => {
  it('answer the real SDK clients through the standard endpoint variables', async () => {
    const kinesis = createKinesisClient();
    // CreateStream answers before the stream is ACTIVE, on AWS and kinesalite alike (a timer there, which a loaded
    // machine once fired after the DescribeStream below): createStream waits, as a client of AWS must.
    await createStream(kinesis, 'smoke');
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
