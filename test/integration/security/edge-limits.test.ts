import { connect } from 'node:net';
import { startEdge, type Edge } from '../../../local-cloud/edge';

/**
 * Issue "Ledger cluster safety", finding 6 (the edge part), against the real edge in front of the real SQS
 * emulator. main buffered an SQS request body whole (400 MB → 1.3 GB RSS). Now a body over the edge's SQS cap
 * gets 413 RequestEntityTooLarge and the edge stops reading: the client cannot push its 10 MB through.
 */

jest.setTimeout(60_000);

const TEN_MB = 10 * 1024 * 1024;

interface Attempt {
  response: string;
  bytesAccepted: number;
}

/** Sends a 10 MB SendMessage body to the edge over a raw socket, chunked (no content-length to refuse on). */
function sendHugeSqsBody(endpoint: string): Promise<Attempt> {
  const url = new URL(endpoint);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  let response = '';
  let written = 0;
  socket.on('data', (d: Buffer) => (response += d.toString('utf8')));
  socket.on('error', () => undefined);
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const pump = async (): Promise<void> => {
    socket.write(
      'POST / HTTP/1.1\r\nhost: ' +
        url.host +
        '\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-target: AmazonSQS.SendMessage\r\n' +
        'transfer-encoding: chunked\r\n\r\n',
    );
    while (written < TEN_MB && !socket.destroyed && !socket.writableEnded) {
      const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      if (!socket.write(framed)) {
        const drained = await Promise.race([
          new Promise<boolean>((r) => socket.once('drain', () => r(true))),
          new Promise<boolean>((r) => socket.once('close', () => r(false))),
        ]);
        if (!drained) break;
      }
      written += chunk.length;
    }
  };
  return new Promise((resolve) => {
    socket.once('close', () => resolve({ response, bytesAccepted: written }));
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

  test('a 10 MB SQS body is refused with 413 RequestEntityTooLarge and the edge stops reading it', async () => {
    const rssBefore = process.memoryUsage().rss;
    const attempt = await sendHugeSqsBody(edge.endpoint);
    expect(attempt.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(attempt.response).toContain('"__type":"RequestEntityTooLarge"');
    expect(attempt.response).toContain('sqs request body exceeds the edge');
    // The edge closed the connection long before the client got its 10 MB out (socket buffers hold a few MB).
    expect(attempt.bytesAccepted).toBeLessThan(TEN_MB / 2);
    // The edge runs in this process: its memory did not grow by anything like the body's size.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(TEN_MB);
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
});
