import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminSetUserPasswordCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import type { Browser, Page } from 'playwright-core';
import { startEmbeddedStack, type EmbeddedStack } from '../../../local-cloud/stack';
import { EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import type { Role } from '../../../shared/auth/principal';
import { userToken } from '../../../tools/lib/user-token';
import { launchBrowser } from '../../support/browser';

/**
 * The web console in a real browser (Debian's headless chromium driven by playwright-core) against a started embedded
 * stack: it signs in through Cognito, shows live prices, places an order that reaches EXECUTED, and hides the order
 * ticket from a viewer — through the public APIs only, as any user's browser would.
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

describe('the web console in a real browser', () => {
  it('signs a trader in, shows live prices within 2 s of going live, and an order reaching EXECUTED', async () => {
    const page = await signIn(await createUser('trader', 'C1'));
    await page.waitForSelector('[data-role="live-state"].live', { timeout: 30_000 });
    const live = Date.now();
    await lastPrice(page).waitFor({ timeout: 2_000 });
    process.stdout.write(`console: first live price ${Date.now() - live} ms after the socket went live\n`);
    expect(await page.isVisible('[data-role="ticket"]')).toBe(true);

    await page.click('[data-role="ticket"] button[type=submit]');
    const row = page.locator('[data-role="blotter"] tbody tr').first();
    await row.waitFor({ timeout: 10_000 }).catch(async (err: Error) => {
      throw new Error(
        `${err.message}; the ticket said: ${await page.textContent('[data-role="ticket-error"]')}; problems: ${await page.textContent('[data-role="problems"]')}`,
      );
    });
    const orderId = (await row.getAttribute('data-order-id')) as string;
    await page
      .waitForSelector(`tr[data-order-id="${orderId}"][data-status="EXECUTED"]`, { timeout: 60_000 })
      .catch(async (err: Error) => {
        await page.screenshot({ path: join(dataDir, 'failed.png') });
        const shown = await page.textContent(`tr[data-order-id="${orderId}"]`);
        const token = (await page.evaluate('sessionStorage.getItem("trading-console-session")')) as string;
        const http = stack.info.apis.find((x) => x.protocol === 'HTTP')!.urls[0];
        const got = await fetch(`${http}/orders/${orderId}`, { headers: { authorization: token } });
        process.stderr.write(`GET /orders/${orderId}: ${got.status} ${await got.text()}\n`);
        throw new Error(
          `${err.message}; the row shows: ${shown}; problems: ${await page.textContent('[data-role="problems"]')}`,
        );
      });
    await screenshot(page, 'console-trader');
    await page.close();
  });

  it('shows a viewer prices and orders but no order ticket', async () => {
    const page = await signIn(await createUser('viewer', 'C1'));
    await page.waitForSelector('[data-role="live-state"].live', { timeout: 30_000 });
    expect(await page.isVisible('[data-role="ticket-card"]')).toBe(false);
    expect(await page.locator('[data-role="cancel"]').count()).toBe(0);
    // The viewer of account C1 sees C1's executed order from the first test, read through GET /orders.
    await page.waitForSelector('[data-role="blotter"] tbody tr[data-status="EXECUTED"]', { timeout: 30_000 });
    await page.close();
  });
});
