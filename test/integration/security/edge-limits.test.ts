import { connect } from 'node:net';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { startEdge, type Edge } from '../../../local-cloud/edge';
import { MAX_SQS_REQUEST_BYTES } from '../../../local-cloud/edge/server';
import { createSqsClient } from '../../../shared/aws/clients';

/**
 * Issue "Ledger cluster safety", finding 6 (the edge part), against the real edge in front of the real SQS
 * emulator. main buffered an SQS request body whole (400 MB → 1.3 GB RSS). Now a body over the edge's SQS cap
 * gets 413 RequestEntityTooLarge and the edge stops reading: the client cannot push its 10 MB through. A message
 * over its queue's size limit gets what SQS answers (400 InvalidParameterValue naming the limit), through the AWS
 * SDK over a real socket: 1 MiB by default since 2025, 262,144 bytes on a queue that sets the old limit.
 */

jest.setTimeout(60_000);

const TEN_MB = 10 * 1024 * 1024;
/** Far over the edge's cap (4 MiB), and over what socket buffers hold, so the refusal is visible on the wire. */
const HUGE = 32 * 1024 * 1024;

interface Attempt {
  response: string;
  /** What the client had written when the response's first byte came. */
  writtenAtResponse: number;
}

/** Sends a 32 MB SendMessage body to the edge over a raw socket, chunked (no content-length to refuse on). */
function sendHugeSqsBody(endpoint: string): Promise<Attempt> {
  const url = new URL(endpoint);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  let response = '';
  let written = 0;
  let writtenAtResponse = -1;
  socket.on('data', (d: Buffer) => {
    if (writtenAtResponse < 0) writtenAtResponse = written;
    response += d.toString('utf8');
  });
  socket.on('error', () => undefined);
  const chunk = Buffer.alloc(64 * 1024, 'a');
  // One framed chunk written again and again: the client allocates nothing per write, so the RSS this process gains
  // is the edge's (a CI run that built a new 64 KB frame per write measured 18 MB of its own garbage).
  const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  const pump = async (): Promise<void> => {
    socket.write(
      'POST / HTTP/1.1\r\nhost: ' +
        url.host +
        '\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: AmazonSQS.SendMessage\r\n' +
        'transfer-encoding: chunked\r\n\r\n',
    );
    while (written < HUGE && !socket.destroyed && !socket.writableEnded) {
      if (!socket.write(framed)) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => socket.once('drain', () => r(true))),
          new Promise<boolean>((r) => socket.once('close', () => r(false))),
        ]);
        if (!drained) break;
      }
      written += chunk.length;
      // Read the response as it comes, as a real client does: loopback windows here take MBs without blocking a
      // write, and once the edge closes, the reset its next segment meets makes the kernel drop unread response
      // bytes (a loaded CI run saw an empty response when this loop never yielded).
      await new Promise((r) => setImmediate(r));
    }
  };
  return new Promise((resolve) => {
    socket.once('close', () => resolve({ response, writtenAtResponse }));
    void pump();
  });
}

describe('edge request limits', () => {
  let edge: Edge;

  beforeAll(async () => {
    edge = await startEdge({
      port: 0,
      backends: {
        kinesis: process.env.AWS_ENDPOINT_URL_KINESIS!,
        dynamodb: process.env.AWS_ENDPOINT_URL_DYNAMODB!,
        sqs: process.env.AWS_ENDPOINT_URL_SQS!,
      },
    });
  });
  afterAll(async () => {
    await edge?.stop();
  });

  test('a 32 MB SQS body is refused with 413 RequestEntityTooLarge and the edge stops reading it', async () => {
    const rssBefore = process.memoryUsage().rss;
    const attempt = await sendHugeSqsBody(edge.endpoint);
    expect(attempt.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(attempt.response).toContain('"__type":"RequestEntityTooLarge"');
    expect(attempt.response).toContain(`sqs request body exceeds the edge's limit of ${MAX_SQS_REQUEST_BYTES} bytes`);
    // The edge answered long before the client got its 32 MB out: it refused at its cap, not at the body's end.
    // (How much more the kernels take in afterwards is theirs: loopback windows here grow to 32 MB.)
    expect(attempt.writtenAtResponse).toBeGreaterThanOrEqual(0);
    expect(attempt.writtenAtResponse).toBeLessThan(HUGE / 2);
    // The edge runs in this process: its memory did not grow by anything like the body's size.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(HUGE / 2);
  });

  test('a declared content-length over the cap is refused before any body is sent', async () => {
    const res = await fetch(edge.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': String(TEN_MB),
        // The edge routes by the signing scope, as for any SDK request.
        authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, Signature=0',
      },
      body: 'Action=SendMessage&MessageBody=' + 'a'.repeat(TEN_MB - 31),
    }).catch((err: Error) => err);
    if (res instanceof Error) throw res;
    expect(res.status).toBe(413);
    expect(await res.text()).toContain('<Code>RequestEntityTooLarge</Code>');
  });

  describe('message size, as SQS answers it (AWS SDK, JSON protocol)', () => {
    const MiB = 1024 * 1024;
    let sqs: SQSClient;
    let queueUrl: string;
    let smallQueueUrl: string;

    beforeAll(async () => {
      sqs = createSqsClient({
        endpoint: edge.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      });
      queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `size-${Date.now()}` }))).QueueUrl!;
      smallQueueUrl = (
        await sqs.send(
          new CreateQueueCommand({
            QueueName: `size-256k-${Date.now()}`,
            Attributes: { MaximumMessageSize: String(256 * 1024) },
          }),
        )
      ).QueueUrl!;
    });
    afterAll(() => sqs?.destroy());

    test('a message of exactly 1 MiB is accepted, even when JSON escaping makes the request larger', async () => {
      // Every quote is escaped on the wire: the request is ~1.5 MiB, over what the edge used to cap at (1 MiB).
      const body = '"a'.repeat(MiB / 2);
      expect(Buffer.byteLength(body)).toBe(MiB);
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 1 }));
      expect(got.Messages?.[0]?.Body).toBe(body);
    });

    test('one byte more is refused with 400 InvalidParameterValue naming the limit', async () => {
      const err = await sqs
        .send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'a'.repeat(MiB + 1) }))
        .catch((e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode?: number } });
      expect(err).toMatchObject({
        name: 'InvalidParameterValue',
        message: 'One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.',
        $metadata: { httpStatusCode: 400 },
      });
    });

    test('a queue with the old 256 KiB limit refuses 256 KiB + 1 the same way, and in a batch only that entry', async () => {
      const over = 'a'.repeat(256 * 1024 + 1);
      const err = await sqs
        .send(new SendMessageCommand({ QueueUrl: smallQueueUrl, MessageBody: over }))
        .catch((e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode?: number } });
      expect(err).toMatchObject({
        name: 'InvalidParameterValue',
        message: 'One or more parameters are invalid. Reason: Message must be shorter than 262144 bytes.',
        $metadata: { httpStatusCode: 400 },
      });
      const batch = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: smallQueueUrl,
          Entries: [
            { Id: 'ok', MessageBody: 'small' },
            { Id: 'big', MessageBody: over },
          ],
        }),
      );
      expect(batch.Successful?.map((e) => e.Id)).toEqual(['ok']);
      expect(batch.Failed).toEqual([
        expect.objectContaining({ Id: 'big', SenderFault: true, Code: 'InvalidParameterValue' }),
      ]);
    });

    test('over the query protocol (form-encoded, as older SDKs and the AWS CLI v1 send) the same refusal in XML', async () => {
      const form = new URLSearchParams({ Action: 'SendMessage', QueueUrl: queueUrl, MessageBody: 'a'.repeat(MiB + 1) });
      const res = await fetch(edge.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: 'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, Signature=0',
        },
        body: form.toString(),
      });
      expect(res.status).toBe(400);
      const xml = await res.text();
      expect(xml).toContain('<Type>Sender</Type><Code>InvalidParameterValue</Code>');
      expect(xml).toContain('Reason: Message must be shorter than 1048576 bytes.');
    });
  });
});
