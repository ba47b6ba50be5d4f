import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import WebSocket from 'ws';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { sendFifoBatch } from '../../../shared/aws/fifo-batch';
import { classifySeq } from '../../../shared/domain/live-delivery';
import { waitFor } from '../../../shared/util/wait';
import { userToken } from '../../../tools/lib/user-token';

/**
 * Live delivery end to end on the embedded cloud: PipelineStack deployed from its synthesized template, 200 users
 * of the deployed user pool (their ID tokens from the local IdP through Cognito's API), each on its own account,
 * connected through the emulated WebSocket API (the $connect authorizer verifying the token), subscribed to
 * their orders. A burst of order events goes into the notifier's queue as the order-events topic delivers them
 * (raw message delivery): each client must receive exactly its own account's updates, seq 1..n in order, none
 * missing. Then clients drop, miss updates, reconnect and `resume`. Last, the whole way: the market feed's ticks
 * become the strategy's orders, executed on the ledger, published to the topic, and reach a subscriber of the
 * strategy's account (and the ticks reach a price subscriber). And order entry over the socket: a trader's
 * `order.submit` reaches the ledger and comes back as its order.update, a cancel is decided by the ledger, a
 * viewer is refused, and the feed's ticks arrive as `candle.update`s.
 */
const CLIENTS = 200;
const FEED_SYMBOL = 'WSE';
const PER_ACCOUNT = 5;
const dataDir = mkdtempSync(join(tmpdir(), 'ws-e2e-'));
let stack: EmbeddedStack;
let wsUrl: string;
const tokens = new Map<string, string>();
/** The account whose trader and viewer use order entry over the socket. */
const ENTRY_ACCOUNT = 'WSENTRY';
const tokenKey = (account: string, role: string) => `${role}:${account}`;

type Message = Record<string, unknown> & { type: string };

/** One user's socket: every message kept; `next` waits for one matching. */
class Client {
  readonly messages: Message[] = [];
  private ws!: WebSocket;
  constructor(
    readonly account: string,
    readonly role = 'trader',
  ) {}

  /** Connects; a 5xx handshake (the authorizer failed, e.g. its keys timed out under load) is retried, as clients do. */
  async open(attempts = 3): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connect();
      } catch (error) {
        if (attempt >= attempts || !/handshake answered 5\d\d/.test((error as Error).message)) throw error;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }

  private async connect(): Promise<void> {
    this.ws = new WebSocket(`${wsUrl}?token=${tokens.get(tokenKey(this.account, this.role))}`);
    this.ws.on('message', (data) => this.messages.push(JSON.parse(String(data)) as Message));
    await new Promise<void>((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
      this.ws.once('error', reject);
    });
  }

  async request(message: object, type: string): Promise<Message> {
    const from = this.messages.length;
    this.ws.send(JSON.stringify(message));
    let reply: Message | undefined;
    await waitFor(`${this.account}: ${type}`, 30_000, () => {
      reply = this.messages.slice(from).find((m) => m.type === type || m.type === 'error');
      return reply !== undefined;
    });
    return reply!;
  }

  /** Order updates as a client following the seq rule keeps them: duplicates dropped, gaps left visible. */
  updates(): { seq: number; order: { orderId: string; account: string } }[] {
    let last = 0;
    const kept: { seq: number; order: { orderId: string; account: string } }[] = [];
    for (const m of this.messages.filter((x) => x.type === 'order.update')) {
      const u = m as unknown as { seq: number; order: { orderId: string; account: string } };
      if (classifySeq(last, u.seq) === 'duplicate') continue;
      kept.push(u);
      last = u.seq;
    }
    return kept;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

const accountOf = (i: number) => `WS${String(i).padStart(3, '0')}`;
const event = (account: string, n: number) => ({
  orderId: `${account}-o${n}`,
  account,
  status: 'ACCEPTED',
  seq: n,
  reason: null,
  symbol: 'AAPL',
  side: 'BUY',
  quantity: 1,
  price: 100,
  position: n,
  tickTs: Date.now(),
  commandTs: Date.now(),
  executedTs: Date.now(),
  correlationId: `${account}-c${n}`,
});

async function publish(events: ReturnType<typeof event>[]): Promise<void> {
  const messages = events.map((e) => ({
    body: JSON.stringify(e),
    groupId: e.account,
    deduplicationId: `${e.orderId}:${e.status}`,
  }));
  const { failed } = await sendFifoBatch(stack.sqs, stack.info.outputs.WsOrderEventsQueueUrl!, messages);
  expect(failed).toEqual([]);
}

async function queueDrained(): Promise<boolean> {
  const { Attributes } = await stack.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: stack.info.outputs.WsOrderEventsQueueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Attributes?.ApproximateNumberOfMessages === '0' && Attributes.ApproximateNumberOfMessagesNotVisible === '0';
}

beforeAll(async () => {
  stack = await startEmbeddedStack({
    dataDir,
    edgePort: 0,
    feed: { ticksPerSecond: 10, symbols: [FEED_SYMBOL] },
    log: () => undefined,
  });
  const api = stack.info.apis.find((a) => a.protocol === 'WEBSOCKET');
  if (!api) throw new Error('the stack has no WebSocket API');
  wsUrl = api.urls[0]!;
  const cognito = new CognitoIdentityProviderClient({
    endpoint: stack.info.endpoint,
    region: 'us-east-1',
    credentials: EMULATOR_CREDENTIALS,
  });
  const pool = { poolId: stack.info.outputs.UserPoolId!, clientId: stack.info.outputs.UserPoolClientId! };
  const users = [
    ...[...Array.from({ length: CLIENTS }, (_, i) => accountOf(i)), stack.info.tradingAccount, ENTRY_ACCOUNT].map(
      (account) => ({ account, role: 'trader' as const }),
    ),
    { account: ENTRY_ACCOUNT, role: 'viewer' as const },
  ];
  for (let i = 0; i < users.length; i += 10) {
    await Promise.all(
      users.slice(i, i + 10).map(async ({ account, role }) => {
        const out = await userToken(cognito, { ...pool, role, account }, () => undefined);
        tokens.set(tokenKey(account, role), out.IdToken!);
      }),
    );
  }
  cognito.destroy();
}, 600_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe('WebSocket live delivery on the embedded cloud', () => {
  const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(accountOf(i)));

  it('refuses a connection without a token or with a bad one, before any route runs', async () => {
    for (const url of [wsUrl, `${wsUrl}?token=not.a.jwt`]) {
      const ws = new WebSocket(url);
      const status = await new Promise<number>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => undefined);
      });
      ws.terminate();
      // API Gateway answers 401 when the authorizer fails with "Unauthorized" (functions/ws-authorizer does).
      expect(status).toBe(401);
    }
  });

  it(`${CLIENTS} clients each receive exactly their own order updates, in order, none missing`, async () => {
    for (let i = 0; i < clients.length; i += 20) await Promise.all(clients.slice(i, i + 20).map((c) => c.open()));
    const replies = await Promise.all(
      clients.map((c) => c.request({ action: 'subscribe', channel: 'orders' }, 'subscribed')),
    );
    expect(replies.every((r) => r.type === 'subscribed')).toBe(true);

    const burst = Array.from({ length: PER_ACCOUNT }, (_, n) => clients.map((c) => event(c.account, n + 1))).flat();
    const started = Date.now();
    await publish(burst);
    await waitFor('every client to have all its updates', 180_000, () =>
      clients.every((c) => c.updates().length >= PER_ACCOUNT),
    );
    const elapsed = Date.now() - started;
    for (const c of clients) {
      const got = c.updates();
      expect(got.map((u) => u.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(got.map((u) => u.order.orderId)).toEqual([1, 2, 3, 4, 5].map((n) => `${c.account}-o${n}`));
      expect(
        c.messages
          .filter((m) => m.type === 'order.update')
          .every((m) => (m.order as { account: string }).account === c.account),
      ).toBe(true);
    }
    const duplicates =
      clients.reduce((n, c) => n + c.messages.filter((m) => m.type === 'order.update').length, 0) -
      CLIENTS * PER_ACCOUNT;
    console.log(
      `ws e2e: ${burst.length} order updates to ${CLIENTS} clients in ${elapsed} ms, ${duplicates} duplicates`,
    );
  }, 300_000);

  it('a client that was away reconnects and resumes: it gets what it missed, in order, then the live ones', async () => {
    const away = clients.slice(0, 20);
    await Promise.all(away.map((c) => c.close()));
    await publish(away.flatMap((c) => [6, 7, 8].map((n) => event(c.account, n))));
    await waitFor('the notifier to take the missed updates', 120_000, queueDrained);
    await Promise.all(away.map((c) => c.open()));
    for (const c of away) {
      const from = c.messages.length;
      const resumed = await c.request({ action: 'resume', since: PER_ACCOUNT, requestId: 'back' }, 'resumed');
      expect(resumed).toMatchObject({ requestId: 'back', since: 5, through: 8, replayed: 3, lost: 0, more: false });
      const replayed = c.messages.slice(from).filter((m) => m.type === 'order.update');
      expect(replayed.map((m) => m.seq)).toEqual([6, 7, 8]);
      expect(c.updates().map((u) => u.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    }
  }, 300_000);

  it('the whole way: the feed’s orders, executed and published, reach their account’s subscriber; ticks reach prices', async () => {
    const trader = new Client(stack.info.tradingAccount);
    clients.push(trader);
    await trader.open();
    await trader.request({ action: 'subscribe', channel: 'orders' }, 'subscribed');
    await trader.request({ action: 'subscribe', channel: 'prices', symbols: [FEED_SYMBOL] }, 'subscribed');
    await waitFor(
      'a price update and an order update from the pipeline',
      120_000,
      () => trader.messages.some((m) => m.type === 'price.update') && trader.updates().length > 0,
    );
    expect(trader.messages.find((m) => m.type === 'price.update')).toMatchObject({ symbol: FEED_SYMBOL });
    // Orders executed before the subscription are in the log: resume from 0 and the stream is 1..n, one account.
    await trader.request({ action: 'resume', since: 0 }, 'resumed');
    const updates = trader.messages.filter((m) => m.type === 'order.update') as unknown as ReturnType<
      Client['updates']
    >;
    const seqs = [...new Set(updates.map((u) => u.seq))].sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(updates.every((u) => u.order.account === stack.info.tradingAccount)).toBe(true);
  }, 180_000);

  it('order entry over the socket: submit reaches EXECUTED, the ledger decides a cancel, a viewer is refused; candles arrive', async () => {
    const trader = new Client(ENTRY_ACCOUNT);
    const viewer = new Client(ENTRY_ACCOUNT, 'viewer');
    clients.push(trader, viewer);
    await Promise.all([trader.open(), viewer.open()]);
    await trader.request({ action: 'subscribe', channel: 'orders' }, 'subscribed');
    await trader.request({ action: 'subscribe', channel: 'candles', symbols: [FEED_SYMBOL] }, 'subscribed');
    const order = (clientOrderId: string) => ({
      clientOrderId,
      symbol: FEED_SYMBOL,
      side: 'BUY',
      type: 'market',
      quantity: 1,
    });
    const statusOf = (orderId: string) => trader.updates().find((u) => u.order.orderId === orderId)?.order;

    const accepted = await trader.request(
      { action: 'order.submit', order: order('e2e-1'), requestId: 's1' },
      'order.accepted',
    );
    expect(accepted).toMatchObject({ type: 'order.accepted', requestId: 's1', status: 'PENDING' });
    const orderId = accepted.orderId as string;
    await waitFor('the order’s update', 60_000, () => statusOf(orderId) !== undefined);
    expect(statusOf(orderId)).toMatchObject({ orderId, account: ENTRY_ACCOUNT, status: 'ACCEPTED' });

    // Canceled at once: the ledger's order decides; either way exactly one outcome, and the update says the same.
    const second = await trader.request({ action: 'order.submit', order: order('e2e-2') }, 'order.accepted');
    const secondId = second.orderId as string;
    const cancel = await trader.request(
      { action: 'order.cancel', orderId: secondId, requestId: 'c1' },
      'order.canceled',
    );
    await waitFor('the canceled or executed order’s update', 60_000, () => statusOf(secondId) !== undefined);
    if (cancel.type === 'order.canceled') expect(statusOf(secondId)).toMatchObject({ status: 'CANCELED' });
    else {
      expect(cancel).toMatchObject({ type: 'error', error: { code: 'CONFLICT', status: 'EXECUTED' } });
      expect(statusOf(secondId)).toMatchObject({ status: 'ACCEPTED' });
    }
    // The executed first order cannot be canceled any more.
    expect(await trader.request({ action: 'order.cancel', orderId }, 'order.canceled')).toMatchObject({
      type: 'error',
      error: { code: 'CONFLICT', orderId, status: 'EXECUTED' },
    });

    expect(await viewer.request({ action: 'order.submit', order: order('e2e-3') }, 'order.accepted')).toEqual({
      type: 'error',
      error: { code: 'FORBIDDEN', message: 'placing orders needs the trader role' },
    });

    await waitFor('a candle update', 60_000, () => trader.messages.some((m) => m.type === 'candle.update'));
    const candle = trader.messages.find((m) => m.type === 'candle.update')!;
    expect(candle).toMatchObject({ symbol: FEED_SYMBOL, interval: expect.stringMatching(/^(1m|5m|1h)$/) });
    expect((candle.start as number) % 60_000).toBe(0);
    expect(candle.count).toBeGreaterThan(0);
    expect(candle.low).toBeLessThanOrEqual(Math.min(candle.open as number, candle.close as number));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  });
});
