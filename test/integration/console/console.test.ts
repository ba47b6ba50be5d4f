import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminSetUserPasswordCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { Browser, Page } from 'playwright-core';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { watchedQueueReport } from '../../../shared/aws/queues';
import type { Role } from '../../../shared/auth/principal';
import { userToken } from '../../../tools/lib/user-token';
import { launchBrowser } from '../../support/browser';

/**
 * The web console in a real browser (Debian's headless chromium driven by playwright-core) against a started embedded
 * stack: it signs in through Cognito, shows live prices, places an order that reaches EXECUTED by the live stream,
 * cancels from the blotter, hides the order ticket from a viewer, and gives an admin the cluster panel and
 * halt/resume — through the public APIs only, as any user's browser would.
 * CONSOLE_SCREENSHOTS=<dir> saves a screenshot of each step there (docs/images/ has the ones in the docs).
 */

jest.setTimeout(180_000);

const PASSWORD = 'Console-test-1!';
const SYMBOL = 'AAPL';
const dataDir = mkdtempSync(join(tmpdir(), 'console-'));
let stack: EmbeddedStack;
let browser: Browser;

async function createUser(role: Role, account: string): Promise<string> {
  const cognito = new CognitoIdentityProviderClient({
    endpoint: stack.info.endpoint,
    region: 'us-east-1',
    credentials: EMULATOR_CREDENTIALS,
  });
  const poolId = stack.info.outputs.UserPoolId as string;
  const username = `${role}-${account}`.toLowerCase();
  try {
    await userToken(
      cognito,
      { poolId, clientId: stack.info.outputs.UserPoolClientId as string, role, account },
      () => undefined,
    );
    await cognito.send(
      new AdminSetUserPasswordCommand({ UserPoolId: poolId, Username: username, Password: PASSWORD, Permanent: true }),
    );
  } finally {
    cognito.destroy();
  }
  return username;
}

async function signIn(username: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`console page error: ${e.message}\n`));
  page.on('console', (m) => {
    if (m.type() === 'error') process.stderr.write(`console: ${m.text()} ${JSON.stringify(m.location())}\n`);
  });
  // CONSOLE_TRACE=1: the page's WebSocket frames (prices left out) on stderr, for debugging a live-path failure.
  if (process.env.CONSOLE_TRACE)
    page.on('websocket', (ws) => {
      ws.on('framereceived', (f) => {
        if (!String(f.payload).includes('price.update'))
          process.stderr.write(`WS< ${String(f.payload).slice(0, 300)}\n`);
      });
      ws.on('framesent', (f) => process.stderr.write(`WS> ${String(f.payload).slice(0, 300)}\n`));
      ws.on('close', () => process.stderr.write(`WS closed\n`));
    });
  await page.goto(`${stack.info.endpoint}/_console/`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('#login button[type=submit]:not([disabled])');
  await page.waitForSelector('#app:not([hidden])', { timeout: 30_000 }).catch(async (err: Error) => {
    throw new Error(`${err.message}; sign-in said: ${await page.textContent('[data-role="login-error"]')}`);
  });
  return page;
}

async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.CONSOLE_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** The last-price label once it shows a price. */
const lastPrice = (page: Page) => page.locator('[data-role="last-price"]').filter({ hasText: /\d/ });

beforeAll(async () => {
  [stack, browser] = await Promise.all([
    startEmbeddedStack({
      dataDir,
      edgePort: 0,
      feed: { ticksPerSecond: 10, symbols: [SYMBOL, 'MSFT'] },
      log: () => undefined,
    }),
    launchBrowser(),
  ]);
}, 600_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

/** An order's status as the API answers it: GET /orders/{id}'s `status`, with the page's own session. */
async function serverStatus(page: Page, orderId: string): Promise<string> {
  // The console keeps the signed-in user's ID token in sessionStorage (console/src/auth.ts).
  const idToken = (await page.evaluate('sessionStorage.getItem("trading-console-session")')) as string;
  const http = stack.info.apis.find((x) => x.protocol === 'HTTP')!.urls[0];
  const res = await fetch(`${http}/orders/${encodeURIComponent(orderId)}`, { headers: { authorization: idToken } });
  return String(((await res.json()) as { status?: string }).status);
}

/**
 * Waits for the order's blotter row to show EXECUTED; on a timeout, says what the row, the API and the commands
 * queue show (an order waiting, or held in flight by a receive that never reached execute).
 */
async function waitExecuted(page: Page, orderId: string, timeout: number): Promise<void> {
  await page
    .waitForSelector(`tr[data-order-id="${orderId}"][data-status="EXECUTED"]`, { timeout })
    .catch(async (err: Error) => {
      const [commands] = await watchedQueueReport(stack.sqs, [
        {
          name: 'commands',
          url: stack.info.outputs.CommandsQueueUrl as string,
          deadLettersUrl: stack.info.outputs.CommandsDlqUrl as string,
        },
      ]);
      throw new Error(
        `${err.message}; the row shows: ${await page.textContent(`tr[data-order-id="${orderId}"]`)}; ` +
          `the API says ${await serverStatus(page, orderId)}; problems: ${await page.textContent('[data-role="problems"]')}; ` +
          `commands queue: ${JSON.stringify(commands)}`,
      );
    });
}

/** Submits the ticket as it stands and returns the new blotter row's order id. */
async function submitTicket(page: Page): Promise<string> {
  const before = await page.locator('[data-role="blotter"] tbody tr').count();
  await page.click('[data-role="ticket"] button[type=submit]');
  const rows = page.locator('[data-role="blotter"] tbody tr');
  // The row at index `before` exists once the blotter has one more row (a new order is prepended).
  await rows
    .nth(before)
    .waitFor({ timeout: 10_000 })
    .catch(async (err: Error) => {
      throw new Error(`${err.message}; the ticket said: ${await page.textContent('[data-role="ticket-error"]')}`);
    });
  return (await rows.first().getAttribute('data-order-id')) as string;
}

describe('the web console in a real browser', () => {
  it('signs a trader in, shows live prices within 2 s of going live, and an order reaching EXECUTED live', async () => {
    const page = await signIn(await createUser('trader', 'C1'));
    await page.waitForSelector('[data-role="live-state"].live', { timeout: 30_000 });
    const live = Date.now();
    await lastPrice(page).waitFor({ timeout: 2_000 });
    process.stdout.write(`console: first live price ${Date.now() - live} ms after the socket went live\n`);
    expect(await page.isVisible('[data-role="ticket"]')).toBe(true);

    const orderId = await submitTicket(page);
    const submitted = Date.now();
    // 20 s: well inside the page's once-a-minute re-read, so only the WebSocket's order.update can bring it.
    await waitExecuted(page, orderId, 20_000);
    process.stdout.write(`console: EXECUTED shown ${Date.now() - submitted} ms after submit (live update)\n`);
    await screenshot(page, 'console-trader');
    await page.close();
  });

  it('cancels from the blotter an order not yet executed: CANCELED, and it stays canceled once execute runs', async () => {
    const page = await signIn(await createUser('trader', 'C2'));
    await page.waitForSelector('[data-role="live-state"].live', { timeout: 30_000 });
    await lastPrice(page).waitFor({ timeout: 10_000 });
    // An order executes ~0.3 s after it is entered, before a click can follow. So execution is paused the way an
    // operator pauses a consumer on AWS (the execute mapping disabled; the commands queue keeps the orders).
    const execute = stack.deployment.sqsMappings.find((m) => m.functionLogicalId === 'ExecuteFunction')!;
    await stack.runtime.setSqsMappingEnabled(execute.logicalId, false);
    let canceled: string;
    let kept: string;
    try {
      canceled = await submitTicket(page);
      kept = await submitTicket(page);
      await page.click(`tr[data-order-id="${canceled}"] [data-role="cancel"]`);
      await page.waitForSelector(`tr[data-order-id="${canceled}"][data-status="CANCELED"]`, { timeout: 10_000 });
      expect(await serverStatus(page, canceled)).toBe('CANCELED');
      expect(await serverStatus(page, kept)).toBe('PENDING');
      expect(await page.locator(`tr[data-order-id="${canceled}"] [data-role="cancel"]`).count()).toBe(0);
      expect(await page.getAttribute(`tr[data-order-id="${kept}"]`, 'data-status')).toBe('PENDING');
    } finally {
      await stack.runtime.setSqsMappingEnabled(execute.logicalId, true);
    }
    // Execution resumes: the order left alone executes (shown live), the canceled one never does.
    await waitExecuted(page, kept, 30_000);
    expect(await serverStatus(page, canceled)).toBe('CANCELED');
    expect(await page.getAttribute(`tr[data-order-id="${canceled}"]`, 'data-status')).toBe('CANCELED');
    await page.close();
  });

  it('shows a viewer prices and orders but no order ticket', async () => {
    const page = await signIn(await createUser('viewer', 'C1'));
    await page.waitForSelector('[data-role="live-state"].live', { timeout: 30_000 });
    expect(await page.isVisible('[data-role="ticket-card"]')).toBe(false);
    expect(await page.locator('[data-role="cancel"]').count()).toBe(0);
    expect(await page.isVisible('[data-role="admin-card"]')).toBe(false);
    // The viewer of account C1 sees C1's executed order from the first test, read through GET /orders.
    await page.waitForSelector('[data-role="blotter"] tbody tr[data-status="EXECUTED"]', { timeout: 30_000 });
    await page.close();
  });

  it('gives an admin the cluster panel (members, queues) and halt/resume', async () => {
    const page = await signIn(await createUser('admin', 'OPS'));
    await page.waitForSelector('[data-role="admin-card"]:not([hidden])', { timeout: 10_000 });
    await page.waitForSelector('[data-role="members"] tbody tr >> nth=2', { timeout: 15_000 });
    expect(await page.textContent('[data-role="cluster-summary"]')).toMatch(/^leader \S+ · term \d+/);
    const roles = await page.locator('[data-role="members"] tbody tr td:nth-child(2)').allTextContents();
    expect(roles.filter((r) => r === 'leader')).toHaveLength(1);
    const stages = await page.locator('[data-role="queues"] tbody tr td:first-child').allTextContents();
    expect(stages).toEqual(['commands', 'events', 'ws-notifier', 'ws-account-updates', 'process', 'market-data']);

    await page.fill('[data-role="halt-form"] input[name=reason]', 'console drill');
    await page.click('[data-role="halt"]');
    await page.waitForSelector('[data-role="halt-banner"]:not([hidden])', { timeout: 10_000 });
    expect(await page.textContent('[data-role="halt-banner"]')).toBe('HALTED: console drill');
    await screenshot(page, 'console-admin');
    await page.click('[data-role="resume"]');
    await page.waitForSelector('[data-role="halt-banner"][hidden]', { state: 'attached', timeout: 10_000 });
    await page.close();
  });
});
