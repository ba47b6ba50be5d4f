import type { TradingApiClient } from './api';

/** Positions as the API returns them: `{ [account]: { [symbol]: quantity } }` or a list of rows. */
export function renderPositions(body: HTMLTableSectionElement, positions: unknown): void {
  const rows: [string, string, string][] = [];
  if (Array.isArray(positions)) {
    for (const p of positions as Record<string, unknown>[])
      rows.push([String(p.account), String(p.symbol), String(p.quantity)]);
  } else if (positions && typeof positions === 'object') {
    for (const [account, bySymbol] of Object.entries(positions as Record<string, Record<string, unknown>>)) {
      for (const [symbol, qty] of Object.entries(bySymbol ?? {})) rows.push([account, symbol, String(qty)]);
    }
  }
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      tr.replaceChildren(...cells.map((text) => Object.assign(document.createElement('td'), { textContent: text })));
      return tr;
    }),
  );
}

/** Admins: the cluster panel (refreshed every 2 s) and halt/resume, through the /admin routes. */
export function startAdminPanel(api: TradingApiClient, $: <T extends HTMLElement>(role: string) => T): void {
  $('admin-card').hidden = false;
  const refresh = async () => {
    try {
      const cluster = (await api.cluster()) as Record<string, unknown>;
      $('cluster').textContent = JSON.stringify(cluster, null, 2);
      const halted = cluster.halted as { reason?: string } | boolean | undefined;
      const banner = $('halt-banner');
      banner.hidden = !halted;
      banner.textContent = halted
        ? `HALTED${typeof halted === 'object' && halted.reason ? `: ${halted.reason}` : ''}`
        : '';
    } catch (error) {
      $('admin-error').textContent = (error as Error).message;
    }
  };
  const form = $<HTMLFormElement>('halt-form');
  form.onsubmit = async (e) => {
    e.preventDefault();
    await api
      .halt(String(new FormData(form).get('reason')))
      .catch((err: Error) => ($('admin-error').textContent = err.message));
    await refresh();
  };
  $('resume').onclick = async () => {
    await api
      .resume(String(new FormData(form).get('reason') || 'resumed from the console'))
      .catch((err: Error) => ($('admin-error').textContent = err.message));
    await refresh();
  };
  void refresh();
  setInterval(() => void refresh(), 2000);
}
