import type { TradingApiClient } from './api';

type Raw = Record<string, unknown>;

/** A table body's rows replaced by these cells; a cell given as [text, className] gets the class. */
function fillTable(body: HTMLTableSectionElement, rows: (string | [string, string])[][]): void {
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      tr.replaceChildren(
        ...cells.map((cell) => {
          const [text, className] = typeof cell === 'string' ? [cell, ''] : cell;
          return Object.assign(document.createElement('td'), { textContent: text, className });
        }),
      );
      return tr;
    }),
  );
}

/** Positions as the API returns them: `{ [account]: { [symbol]: quantity } }` or a list of rows. */
export function renderPositions(body: HTMLTableSectionElement, positions: unknown): void {
  const rows: string[][] = [];
  if (Array.isArray(positions)) {
    for (const p of positions as Raw[]) rows.push([String(p.account), String(p.symbol), String(p.quantity)]);
  } else if (positions && typeof positions === 'object') {
    for (const [account, bySymbol] of Object.entries(positions as Record<string, Raw>)) {
      for (const [symbol, qty] of Object.entries(bySymbol ?? {})) rows.push([account, symbol, String(qty)]);
    }
  }
  fillTable(body, rows);
}

const text = (v: unknown): string => (v === null || v === undefined ? '–' : String(v));

/** GET /operator/cluster as the panel shows it: a summary line, one row per member, one per pipeline stage. */
function renderCluster(cluster: Raw, $: <T extends HTMLElement>(role: string) => T): void {
  const { leader, term, commitIndex } = cluster;
  $('cluster-summary').textContent = leader
    ? `leader ${text(leader)} · term ${text(term)} · commit index ${text(commitIndex)}`
    : 'no leader: the cluster cannot take writes';
  const members = (cluster.members as Raw[] | undefined) ?? [];
  fillTable(
    $<HTMLTableElement>('members').tBodies[0]!,
    members.map((m) => [
      text(m.nodeId ?? m.url),
      text(m.role),
      text(m.term),
      text(m.commitIndex),
      text(m.appliedIndex),
      text(m.lag),
      m.healthy ? 'ok' : [`down: ${text(m.error)}`, 'danger'],
    ]),
  );
  const queues = (cluster.queues as Raw[] | undefined) ?? [];
  fillTable(
    $<HTMLTableElement>('queues').tBodies[0]!,
    queues.map((q) =>
      'error' in q
        ? [text(q.name), [`unreadable: ${text(q.error)}`, 'danger'], '', '']
        : [
            text(q.name),
            text(q.waiting),
            text(q.inFlight),
            Number(q.deadLetters) > 0 ? [text(q.deadLetters), 'danger'] : text(q.deadLetters),
          ],
    ),
  );
  const banner = $('halt-banner');
  banner.hidden = cluster.halted !== true;
  banner.textContent = cluster.halted === true ? `HALTED: ${text(cluster.haltReason)}` : '';
}

/** Admins: the cluster panel (refreshed every 2 s) and halt/resume, through the /operator routes. */
export function startAdminPanel(api: TradingApiClient, $: <T extends HTMLElement>(role: string) => T): void {
  $('admin-card').hidden = false;
  const refresh = async () => {
    try {
      renderCluster((await api.cluster()) as Raw, $);
      $('admin-error').textContent = '';
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
