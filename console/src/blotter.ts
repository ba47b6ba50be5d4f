import type { OrderView } from './api';

const FINAL = new Set(['EXECUTED', 'REJECTED', 'CANCELED', 'EXPIRED']);

/** The order blotter: newest first, one row per order, statuses changing in place as updates arrive. */
export class Blotter {
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly orders = new Map<string, OrderView>();

  constructor(
    private readonly body: HTMLTableSectionElement,
    private readonly onCancel: ((orderId: string) => void) | undefined,
  ) {}

  /** A status the API answered for an order already shown (a cancel's 200 CANCELED or 409 EXECUTED). */
  setStatus(orderId: string, status: string): void {
    const order = this.orders.get(orderId);
    if (order) this.upsert({ ...order, status });
  }

  upsert(order: OrderView): void {
    let row = this.rows.get(order.orderId);
    if (!row) {
      row = document.createElement('tr');
      row.dataset.orderId = order.orderId;
      this.rows.set(order.orderId, row);
      this.body.prepend(row);
    } else if (FINAL.has(row.dataset.status ?? '') && !FINAL.has(order.status)) {
      return; // a late PENDING never overwrites a final status
    }
    row.dataset.status = order.status;
    this.orders.set(order.orderId, order);
    row.replaceChildren(
      ...[order.time.slice(11, 19), order.orderId.slice(0, 12), order.symbol, order.side, String(order.quantity)].map(
        (text) => cell(text),
      ),
      cell(order.price === undefined ? '' : order.price.toFixed(2)),
      cell(order.status + (order.reason ? ` (${order.reason})` : ''), `status-${order.status}`),
      this.cancelCell(order),
    );
  }

  private cancelCell(order: OrderView): HTMLTableCellElement {
    const td = document.createElement('td');
    if (this.onCancel && !FINAL.has(order.status)) {
      const button = document.createElement('button');
      button.textContent = 'Cancel';
      button.dataset.role = 'cancel';
      button.onclick = () => this.onCancel?.(order.orderId);
      td.append(button);
    }
    return td;
  }
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}
