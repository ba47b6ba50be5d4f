import { ApiError, toOrderView, TradingApiClient } from './api';
import { restoreSession, signIn, signOut, type Session } from './auth';
import { Blotter } from './blotter';
import { PriceChart } from './chart';
import { loadConfig, type ConsoleConfig } from './config';
import { LiveStream, type LiveMessage } from './live';
import { renderPositions, startAdminPanel } from './panels';

const $ = <T extends HTMLElement>(role: string): T => {
  const el = document.querySelector<T>(`[data-role="${role}"]`);
  if (!el) throw new Error(`console markup has no [data-role="${role}"]`);
  return el;
};

async function boot(): Promise<void> {
  const config = await loadConfig();
  const session = restoreSession();
  if (session) return start(config, session);
  const form = document.getElementById('login') as HTMLFormElement;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    try {
      await start(config, await signIn(config, String(data.get('username')), String(data.get('password'))));
    } catch (error) {
      $('login-error').textContent = (error as Error).message;
    }
  };
  // Enabled only now: a click before the handler is attached would submit the form as a plain page reload.
  form.querySelector('button')!.disabled = false;
}

async function start(config: ConsoleConfig, session: Session): Promise<void> {
  document.getElementById('login')!.hidden = true;
  document.getElementById('app')!.hidden = false;
  $('whoami').textContent = `${session.username} · account ${session.account} · ${session.roles.join(', ')}`;
  $('logout').onclick = () => {
    signOut();
    location.reload();
  };
  const api = new TradingApiClient(config, session);
  const trader = session.roles.includes('trader');
  const blotter: Blotter = new Blotter(
    $<HTMLTableElement>('blotter').tBodies[0]!,
    trader ? (id) => cancel(api, blotter, id) : undefined,
  );
  const chart = new PriceChart($('chart'));
  const symbol = $<HTMLSelectElement>('symbol');
  const interval = $<HTMLSelectElement>('interval');
  symbol.replaceChildren(...config.symbols.map((s) => new Option(s, s)));

  const reloadOrders = async () => (await api.orders()).reverse().forEach((o) => blotter.upsert(o));
  const live = connectLive(config, session, api, { symbol, chart, blotter }, reloadOrders);
  const loadChart = async () => {
    const from = new Date(Date.now() - 120 * ({ '1m': 60, '5m': 300, '1h': 3600 }[interval.value] ?? 60) * 1000);
    chart.show((await api.candles(symbol.value, interval.value, from)).candles, interval.value);
  };
  symbol.onchange = () => {
    live.watch([symbol.value]);
    void loadChart();
  };
  interval.onchange = () => void loadChart();
  if (trader) wireTicket(api, symbol, blotter);
  else $('ticket-card').hidden = true;
  if (session.roles.includes('admin')) startAdminPanel(api, $);
  live.start([symbol.value]);
  // Each panel loads on its own: one failing (shown in the page) does not keep the others empty.
  const panels: [string, Promise<unknown>][] = [
    ['prices', loadChart()],
    ['orders', reloadOrders()],
    ['positions', refreshPositions(api)],
  ];
  for (const [name, loading] of panels) {
    loading.catch((error: unknown) => showProblem(`${name}: ${(error as Error).message}`));
  }
  // Statuses arrive live (the stream resumes after gaps and reconnects). A page left open still re-reads the
  // blotter and positions once a minute as a safety net — rarely, so the API is not polled by every open page.
  setInterval(() => {
    reloadOrders().catch(() => undefined);
    refreshPositions(api).catch(() => undefined);
  }, 60_000);
}

/** The WebSocket stream wired to the page: prices to the chart, order updates to the blotter and positions. */
function connectLive(
  config: ConsoleConfig,
  session: Session,
  api: TradingApiClient,
  ui: { symbol: HTMLSelectElement; chart: PriceChart; blotter: Blotter },
  reloadOrders: () => Promise<void>,
): LiveStream {
  // A fill changes positions: re-read them once per burst of order updates, not once per update.
  let positionsTimer: ReturnType<typeof setTimeout> | undefined;
  const positionsSoon = () => {
    clearTimeout(positionsTimer);
    positionsTimer = setTimeout(() => void refreshPositions(api).catch(() => undefined), 500);
  };
  return new LiveStream(
    config,
    session,
    (m) => {
      onLive(m, ui);
      if (m.type === 'order.update') positionsSoon();
    },
    (state) => {
      const pill = $('live-state');
      pill.textContent = state;
      pill.classList.toggle('live', state === 'live');
      // Subscribed: read the blotter once more, so an update published before the subscription held is not missed.
      if (state === 'live') reloadOrders().catch(() => undefined);
    },
  );
}

function showProblem(message: string): void {
  const problems = $('problems');
  problems.hidden = false;
  problems.textContent = [problems.textContent, message].filter(Boolean).join(' · ');
}

function onLive(m: LiveMessage, ui: { symbol: HTMLSelectElement; chart: PriceChart; blotter: Blotter }): void {
  if (m.type === 'price.update' && m.symbol === ui.symbol.value && typeof m.price === 'number') {
    $('last-price').textContent = m.price.toFixed(2);
    ui.chart.tick(m.price, typeof m.ts === 'number' ? m.ts : Date.now());
  } else if (m.type === 'order.update' && m.order) {
    ui.blotter.upsert(toOrderView(m.order as Record<string, unknown>));
  }
}

function wireTicket(api: TradingApiClient, symbol: HTMLSelectElement, blotter: Blotter): void {
  const form = $<HTMLFormElement>('ticket');
  form.onsubmit = async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const type = String(data.get('type'));
    const order = {
      clientOrderId: crypto.randomUUID(),
      symbol: symbol.value,
      side: String(data.get('side')),
      type,
      quantity: Number(data.get('quantity')),
      ...(type === 'limit' ? { limitPrice: Number(data.get('limitPrice')) } : {}),
    };
    $('ticket-error').textContent = '';
    try {
      const { orderId, status } = await api.submit(order);
      blotter.upsert({ ...order, orderId, status, time: new Date().toISOString() });
    } catch (error) {
      $('ticket-error').textContent = error instanceof ApiError ? error.message : String(error);
    }
  };
}

/** Cancels through DELETE /orders/{id}; the ledger decides, and its answer is shown at once (200 or 409). */
async function cancel(api: TradingApiClient, blotter: Blotter, orderId: string): Promise<void> {
  try {
    blotter.setStatus(orderId, (await api.cancel(orderId)).status);
  } catch (error) {
    const status = error instanceof ApiError && error.status === 409 ? error.body.status : undefined;
    if (typeof status === 'string') blotter.setStatus(orderId, status);
    else $('ticket-error').textContent = (error as Error).message;
  }
}

async function refreshPositions(api: TradingApiClient): Promise<void> {
  renderPositions($<HTMLTableElement>('positions').tBodies[0]!, (await api.positions()).positions);
}

void boot().catch((error: unknown) => {
  document.body.textContent = `console failed to start: ${(error as Error).message}`;
});
