import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { invokeUrls } from '../../../local-cloud/apigateway';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { createSnsClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { publishFifoBatch } from '../../../shared/aws/fifo-batch';
import type { Role } from '../../../shared/auth/principal';
import type { OrderEvent } from '../../../shared/domain/event';
import { waitFor } from '../../../shared/util/wait';
import { userToken } from '../../../tools/lib/user-token';

/**
 * The order history end to end on a started embedded stack, as a client sees it: order events published to the
 * stack's EventsTopic (as execute publishes them) reach the history writer through its own subscription, and
 * GET /orders answers through the emulated API Gateway — its JWT authorizer checking real user-pool ID tokens —
 * with the refusals a client meets (no token, another account, a tampered cursor).
 */

jest.setTimeout(120_000);

const dataDir = mkdtempSync(join(tmpdir(), 'history-api-'));
let stack: EmbeddedStack;
let apiUrl: string;
const target = () => ({ endpoint: stack.edge.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });

beforeAll(async () => {
  stack = await startEmbeddedStack({ dataDir, edgePort: 0, log: () => undefined });
  const api = stack.deployment.apis.find((a) => a.protocol === 'HTTP');
  if (!api) throw new Error('the stack has no HTTP API');
  apiUrl = invokeUrls(stack.edge.endpoint, api)[0]!.replace(/\/$/, '');
}, 300_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

async function idToken(role: Role, account: string): Promise<string> {
  const cognito = new CognitoIdentityProviderClient(target());
  try {
    const outputs = stack.info.outputs;
    const poolId = outputs.UserPoolId as string;
    const clientId = outputs.UserPoolClientId as string;
    const result = await userToken(cognito, { poolId, clientId, role, account }, () => undefined);
    return result.IdToken as string;
  } finally {
    cognito.destroy();
  }
}

function event(account: string, i: number): OrderEvent {
  const ts = Date.UTC(2026, 0, 2) + i * 1000;
  return {
    orderId: `hist-${account}-${i}`,
    status: 'ACCEPTED',
    seq: i + 1,
    reason: null,
    account,
    symbol: i % 2 === 0 ? 'AAPL' : 'MSFT',
    side: 'BUY',
    quantity: 1,
    price: 10,
    position: i + 1,
    tickTs: ts - 2,
    commandTs: ts,
    executedTs: ts + 2,
    correlationId: `c-${i}`,
  };
}

const get = async (path: string, token?: string) => {
  const res = await fetch(`${apiUrl}${path}`, { headers: token ? { authorization: token } : {} });
  const refusal = res.headers.get('www-authenticate');
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, ...(refusal ? { refusal } : {}) };
};

it('GET /orders through the emulated API Gateway: own history, pages, filters, and the refusals', async () => {
  const events = [...Array.from({ length: 5 }, (_, i) => event('A1', i)), event('B2', 0)];
  const sns = createSnsClient(target());
  try {
    const sent = await publishFifoBatch(
      sns,
      stack.info.outputs.EventsTopicArn as string,
      events.map((e) => ({ body: JSON.stringify(e), groupId: e.symbol, deduplicationId: e.orderId })),
    );
    expect(sent.failed).toEqual([]);
  } finally {
    sns.destroy();
  }
  const [viewerA1, traderB2] = await Promise.all([idToken('viewer', 'A1'), idToken('trader', 'B2')]);
  // The history writer runs on the stack's runtime from its own subscription: wait until it has every event.
  await waitFor('the history writer to write A1’s orders', 60_000, async () => {
    const res = await get('/orders', viewerA1);
    if ((res.body.orders as unknown[] | undefined)?.length === 5) return true;
    throw new Error(`GET /orders answered ${JSON.stringify(res).slice(0, 300)}`);
  });

  const first = await get('/orders?limit=2', viewerA1);
  expect(first.status).toBe(200);
  expect((first.body.orders as { orderId: string }[]).map((o) => o.orderId)).toEqual(['hist-A1-4', 'hist-A1-3']);
  const second = await get(`/orders?limit=2&cursor=${first.body.nextCursor as string}`, viewerA1);
  expect((second.body.orders as { orderId: string }[]).map((o) => o.orderId)).toEqual(['hist-A1-2', 'hist-A1-1']);
  const msft = await get('/orders?symbol=MSFT', viewerA1);
  expect((msft.body.orders as { orderId: string }[]).map((o) => o.orderId)).toEqual(['hist-A1-3', 'hist-A1-1']);

  // Refusals: API Gateway's 401 without a token; the function's 403 for another account and 400 for a bad cursor.
  expect((await get('/orders')).status).toBe(401);
  const other = await get('/orders?account=A1', traderB2);
  expect(other).toMatchObject({ status: 403, body: { message: 'account: you may read only your own account (B2)' } });
  expect((await get('/orders', traderB2)).body.orders).toHaveLength(1);
  const tampered = await get(`/orders?limit=2&cursor=${first.body.nextCursor as string}AA`, viewerA1);
  expect(tampered.status).toBe(400);
  expect(tampered.body.errors).toEqual([{ field: 'cursor', message: expect.any(String) }]);
});
