import { Agent, request, type IncomingMessage } from 'node:http';

/**
 * The two SQS calls the embedded cloud's own pollers make — ReceiveMessage and DeleteMessageBatch, for the
 * event-source mappings and the events recorder — as plain SQS JSON-protocol requests to the local SQS.
 *
 * Written by hand rather than with @aws-sdk/client-sqs, on purpose and only here: Lambda's pollers are AWS's
 * internal service, not an SDK client, and in the embedded cloud they run in the launcher, on the same two
 * cores as the stack they feed. `npm run bench:sqs-poller` against fauxqs: a poll round (receive ten messages,
 * delete them) costs 1.5–1.6 ms of CPU through the SDK (its middleware stack, schema serde, SigV4 signing, MD5
 * checks) and 0.5–0.6 ms sent like this; at 600 orders/s the pollers make ~150 calls a second (docs/performance.md,
 * session 25). The functions, the tools and every outside client keep the SDK. Unsigned: the local SQS checks no
 * signature, and finds a queue by its URL's path (the patched fauxqs; the edge forwards as it is).
 */

/** A message as SQS's JSON protocol returns it (binary attribute values base64-encoded, as on the wire). */
export interface PolledMessage {
  MessageId?: string;
  ReceiptHandle?: string;
  MD5OfBody?: string;
  Body?: string;
  Attributes?: Record<string, string>;
  MD5OfMessageAttributes?: string;
  MessageAttributes?: Record<string, PolledAttribute>;
}

export interface PolledAttribute {
  DataType?: string;
  StringValue?: string;
  /** base64 */
  BinaryValue?: string;
  StringListValues?: string[];
  /** base64 each */
  BinaryListValues?: string[];
}

export interface ReceiveOptions {
  maxMessages: number;
  waitSeconds: number;
  /** System attributes to return ('All', 'SentTimestamp', …). */
  attributeNames: string[];
  /** Also every message attribute. */
  messageAttributes?: boolean;
  signal?: AbortSignal;
}

export interface DeleteFailure {
  Id: string;
  Code?: string;
  Message?: string;
  SenderFault?: boolean;
}

/** An error SQS answered with, named as SQS names it (`QueueDoesNotExist`, …). */
export class SqsCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(`${code}: ${message}`);
    this.name = 'SqsCallError';
  }
}

/** Ten messages of SQS's largest (1 MiB with attributes) fit with room; a bigger reply is refused, not buffered. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;
/** Beyond a long poll's wait, how long a reply may take before the call is given up. */
const REPLY_GRACE_MS = 10_000;

export class SqsPollerClient {
  private readonly agent = new Agent({ keepAlive: true });
  private readonly url: URL;

  constructor(endpoint: string) {
    this.url = new URL(endpoint);
    if (this.url.protocol !== 'http:')
      throw new Error(`the pollers' SQS endpoint must be http:// (a local SQS), got ${endpoint}`);
  }

  /** The endpoint the runtime's SQS pollers use: the one configured, else the SDK's own environment settings. */
  static forEndpoint(configured: string | undefined): SqsPollerClient {
    const endpoint = configured ?? process.env.AWS_ENDPOINT_URL_SQS ?? process.env.AWS_ENDPOINT_URL;
    if (!endpoint) {
      throw new Error(
        'the local runtime polls a local SQS: set its endpoint (AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL)',
      );
    }
    return new SqsPollerClient(endpoint);
  }

  async receive(queueUrl: string, opts: ReceiveOptions): Promise<PolledMessage[]> {
    const out = (await this.call(
      'ReceiveMessage',
      {
        QueueUrl: queueUrl,
        MaxNumberOfMessages: opts.maxMessages,
        WaitTimeSeconds: opts.waitSeconds,
        MessageSystemAttributeNames: opts.attributeNames,
        ...(opts.messageAttributes ? { MessageAttributeNames: ['All'] } : {}),
      },
      opts.waitSeconds * 1000 + REPLY_GRACE_MS,
      opts.signal,
    )) as { Messages?: PolledMessage[] };
    return out.Messages ?? [];
  }

  /** Deletes up to ten messages by receipt handle; returns the entries SQS did not delete. */
  async deleteBatch(queueUrl: string, messages: readonly PolledMessage[]): Promise<DeleteFailure[]> {
    if (messages.length === 0) return [];
    const out = (await this.call(
      'DeleteMessageBatch',
      { QueueUrl: queueUrl, Entries: messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle })) },
      REPLY_GRACE_MS,
    )) as { Failed?: DeleteFailure[] };
    return out.Failed ?? [];
  }

  destroy(): void {
    this.agent.destroy();
  }

  private async call(action: string, input: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const body = JSON.stringify(input);
    try {
      return await this.send(action, body, timeoutMs, signal);
    } catch (err) {
      // A kept-alive socket the server closed just as it was reused: nothing reached SQS, so one retry is safe
      // (the case Node's http documentation names for request.reusedSocket).
      if ((err as { retryable?: boolean }).retryable) return this.send(action, body, timeoutMs, signal);
      throw err;
    }
  }

  private send(action: string, body: string, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const req = request(this.url, {
        method: 'POST',
        agent: this.agent,
        signal,
        timeout: timeoutMs,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `AmazonSQS.${action}`,
          'content-length': Buffer.byteLength(body),
        },
      });
      req.on('timeout', () => req.destroy(new Error(`SQS ${action} got no reply in ${timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.name === 'AbortError') return reject(abortError());
        reject(Object.assign(err, { retryable: req.reusedSocket && err.code === 'ECONNRESET' }));
      });
      req.on('response', (res) => readReply(action, res).then(resolve, reject));
      req.end(body);
    });
  }
}

function abortError(): Error {
  return Object.assign(new Error('the SQS call was aborted'), { name: 'AbortError' });
}

async function readReply(action: string, res: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REPLY_BYTES) {
      res.destroy();
      throw new Error(`SQS ${action} replied with over ${MAX_REPLY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new SqsCallError(
      'InvalidReply',
      `SQS ${action} replied with HTTP ${res.statusCode} and no JSON`,
      res.statusCode ?? 0,
    );
  }
  if ((res.statusCode ?? 0) >= 300) {
    const err = parsed as { __type?: string; message?: string; Message?: string };
    const code = (err.__type ?? 'UnknownError').replace(/^.*#/, '').replace(/^AWS\.SimpleQueueService\./, '');
    throw new SqsCallError(code, err.message ?? err.Message ?? `HTTP ${res.statusCode}`, res.statusCode ?? 0);
  }
  return parsed;
}
