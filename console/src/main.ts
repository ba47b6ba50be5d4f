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
}

async function start(config: ConsoleConfig, session: Session): Promise<void> {
  document.getElementById('login')!.hidden = true;
  $('app').hidden = false;
  $('whoami').textContent = `${session.username} · account ${session.account} · ${session.roles.join(', ')}`;
  $('logout').onclick = () => {
    signOut();
    location.reload();
  };
  const api = new TradingApiClient(config, session);
  const trader = session.roles.includes('trader');
  const blotter = new Blotter($<HTMLTableElement>('blotter').tBodies[0]!, trader ? (id) => cancel(api, id) : undefined);
  const chart = new PriceChart($('chart'));
  const symbol = $<HTMLSelectElement>('symbol');
  const interval = $<HTMLSelectElement>('interval');
  symbol.replaceChildren(...config.symbols.map((s) => new Option(s, s)));

  const live = new LiveStream(
    config,
    session,
    (m) => onLive(m, { symbol, chart, blotter }),
    (state) => {
      const pill = $('live-state');
      pill.textContent = state;
      pill.classList.toggle('live', state === 'live');
    },
  );
  const loadChart = async () => {
    const from = new Date(Date.now() - 120 * ({ '1m': 60, '5m': 300, '1h': 3600 }[interval.value] ?? 60) * 1000);
    chart.show((await api.candles(symbol.value, interval.value, from)).candles, interval.value);
  };
  symbol.onchange = () => {
    live.watch([symbol.value]);
    void loadChart();
  };
  interval.onchange = () => void loadChart();
  live.start([symbol.value]);
  await Promise.all([
    loadChart(),
    api.orders().then((orders) => [...orders].reverse().forEach((o) => blotter.upsert(o))),
    refreshPositions(api),
  ]);
  if (trader) wireTicket(api, symbol, blotter);
  else $('ticket-card').hidden = true;
  if (session.roles.includes('admin')) startAdminPanel(api, $);
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

async function cancel(api: TradingApiClient, orderId: string): Promise<void> {
  try {
    await api.cancel(orderId);
  } catch (error) {
    $('ticket-error').textContent = (error as Error).message;
  }
}

async function refreshPositions(api: TradingApiClient): Promise<void> {
  renderPositions($<HTMLTableElement>('positions').tBodies[0]!, (await api.positions()).positions);
}

void boot().catch((error: unknown) => {
  document.body.textContent = `console failed to start: ${(error as Error).message}`;
});
