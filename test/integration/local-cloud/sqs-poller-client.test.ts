import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CreateQueueCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { SqsCallError, SqsPollerClient } from '../../../local-cloud/runtime/sqs-poller-client';
import { createSqsClient } from '../../../shared/aws/clients';
import { queueDepth } from '../../../shared/aws/queues';
import { uniqueName } from './fixtures/runtime-helpers';

const sqs = createSqsClient();
afterAll(() => sqs.destroy());

/** A real HTTP server on loopback, answering each request with `reply`; closed after the test. */
async function withServer(
  reply: (n: number, res: import('node:http').ServerResponse, socket: Socket) => void,
  run: (endpoint: string) => Promise<void>,
): Promise<number> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => reply(++n, res, req.socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  return n;
}

describe("the runtime's SQS poller client", () => {
  it('receives and deletes against the local SQS, as the SDK would', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: uniqueName('poller') }));
    const url = QueueUrl ?? '';
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [1, 2, 3].map((n) => ({ Id: `m${n}`, MessageBody: JSON.stringify({ n }) })),
      }),
    );
    const client = SqsPollerClient.forEndpoint(undefined);
    try {
      const got = [];
      while (got.length < 3) {
        const batch = await client.receive(url, { maxMessages: 10, waitSeconds: 1, attributeNames: ['SentTimestamp'] });
        got.push(...batch);
        expect(await client.deleteBatch(url, batch)).toEqual([]);
      }
      expect(got.map((m) => JSON.parse(m.Body ?? '').n).sort()).toEqual([1, 2, 3]);
      expect(Number(got[0]!.Attributes?.SentTimestamp)).toBeGreaterThan(0);
      expect(await queueDepth(sqs, url)).toBe(0);
    } finally {
      client.destroy();
    }
  });

  it("names SQS's error: a queue that does not exist", async () => {
    const client = SqsPollerClient.forEndpoint(undefined);
    try {
      // SQS (and the patched fauxqs) finds a queue by its URL's path, whatever host the URL names.
      const missing = `http://127.0.0.1/000000000000/${uniqueName('missing')}`;
      const call = client.receive(missing, { maxMessages: 1, waitSeconds: 0, attributeNames: [] });
      await expect(call).rejects.toThrow(SqsCallError);
      await expect(call).rejects.toMatchObject({ code: 'QueueDoesNotExist', status: 400 });
    } finally {
      client.destroy();
    }
  });

  it('retries once when the server closed a kept-alive connection just as it was reused', async () => {
    // The first request is answered and its connection kept; the second, on that same connection, is dropped
    // unanswered (a real socket closed by a real server); the retry goes out on a new connection.
    const sockets = new Set<Socket>();
    const requests = await withServer(
      (n, res, socket) => {
        sockets.add(socket);
        if (n === 2) socket.destroy();
        else res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{"Messages":[]}');
      },
      async (endpoint) => {
        const client = new SqsPollerClient(endpoint);
        try {
          const receive = () =>
            client.receive(`${endpoint}/000000000000/q`, { maxMessages: 1, waitSeconds: 0, attributeNames: [] });
          await expect(receive()).resolves.toEqual([]);
          await expect(receive()).resolves.toEqual([]);
        } finally {
          client.destroy();
        }
      },
    );
    expect(requests).toBe(3);
    expect(sockets.size).toBe(2);
  });

  it('refuses a reply over its size limit rather than buffering it', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    await withServer(
      (_n, res) => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        const write = (left: number): void => {
          if (left === 0 || res.destroyed) return void res.end();
          if (res.write(chunk)) write(left - 1);
          else res.once('drain', () => write(left - 1));
        };
        write(20);
      },
      async (endpoint) => {
        const client = new SqsPollerClient(endpoint);
        try {
          await expect(
            client.receive(`${endpoint}/000000000000/q`, { maxMessages: 1, waitSeconds: 0, attributeNames: [] }),
          ).rejects.toThrow(/ReceiveMessage replied with over 16777216 bytes/);
        } finally {
          client.destroy();
        }
      },
    );
  });

  it('refuses an endpoint that is not plain http (the pollers only ever poll a local SQS)', () => {
    expect(() => new SqsPollerClient('https://sqs.us-east-1.amazonaws.com')).toThrow(/must be http:\/\//);
  });
});
