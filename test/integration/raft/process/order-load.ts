import type { Order, OrderResult } from '../../../../shared/domain/order';
import { createLedgerClient } from '../../../../shared/raft-client/client';
import { durableLedger } from './durable-ledger';

/**
 * Concurrent clients placing orders (about one in eight repeats an id already acknowledged, with the same
 * content: a true retry), and the check that every replica's durable ledger holds exactly what was acknowledged.
 * Shared by the process tests that inject faults under load.
 */

export interface OrderLoad {
  /** First acknowledged outcome per order id. */
  acked: Map<string, OrderResult>;
  /** A repeat answered with another seq or status than the first answer. */
  mismatches: string[];
  /** Calls the client gave up on (the outcome unknown to the client; the ledger may or may not hold it). */
  failures(): number;
  /** Stops the workers and waits for their last calls. */
  stop(): Promise<void>;
}

export function startOrderLoad(members: string[], workers = 8, authSecret?: string): OrderLoad {
  const acked = new Map<string, OrderResult>();
  const sentIds: string[] = [];
  const mismatches: string[] = [];
  let running = true;
  let failures = 0;

  const worker = async (k: number) => {
    const client = createLedgerClient({
      members,
      authSecret,
      requestTimeoutMs: 1_500,
      maxAttempts: 40,
      backoffCapMs: 300,
    });
    for (let i = 0; running; i++) {
      const repeat = sentIds.length > 0 && (i + k) % 8 === 0;
      const orderId = repeat ? sentIds[(i * 7919 + k) % sentIds.length]! : `w${k}-${i}`;
      if (!repeat) sentIds.push(orderId);
      const original = acked.get(orderId);
      if (repeat && !original) continue;
      // A repeat must carry the same content as the original to be a true retry.
      const order: Order = original
        ? { orderId, ...pick(original) }
        : {
            orderId,
            account: `acct-${k % 3}`,
            symbol: k % 2 ? 'AAPL' : 'MSFT',
            side: i % 3 === 0 ? 'SELL' : 'BUY',
            quantity: 1 + (i % 5),
            price: 100,
          };
      try {
        const result = await client.applyOrder(order);
        const first = acked.get(orderId);
        if (!first) acked.set(orderId, result);
        else if (result.seq !== first.seq || result.status !== first.status) {
          mismatches.push(`${orderId}: first ${JSON.stringify(first)}, repeat ${JSON.stringify(result)}`);
        }
      } catch {
        failures++;
      }
    }
    client.close();
  };

  const all = Array.from({ length: workers }, (_, k) => worker(k));
  return {
    acked,
    mismatches,
    failures: () => failures,
    stop: async () => {
      running = false;
      await Promise.all(all);
    },
  };
}

function pick(o: OrderResult): Omit<Order, 'orderId'> {
  return { account: o.account, symbol: o.symbol, side: o.side, quantity: o.quantity, price: o.price };
}

/**
 * Rebuilds each stopped node's ledger from its own durable state and checks: every node made the committed log
 * durable; every acknowledged order is on every replica once, with the acknowledged status and seq; the replicas
 * agree; the accepted seqs are 1..N, each given to one order. Returns the reference replica's order count.
 */
export function expectReplicasHoldAcknowledged(
  nodes: { id: string; dataDir: string }[],
  acked: Map<string, OrderResult>,
  clusterCommit: number,
): number {
  const ledgers = nodes.map((n) => ({ id: n.id, ...durableLedger(n.dataDir, clusterCommit) }));
  const reference = ledgers[0]!;
  for (const l of ledgers) {
    expect({ id: l.id, lastIndex: Math.min(l.lastIndex, clusterCommit) }).toEqual({
      id: l.id,
      lastIndex: clusterCommit,
    });
    for (const [orderId, result] of acked) {
      const recorded = l.orders.get(orderId);
      if (!recorded) {
        const commits = ledgers.map((x) => `${x.id}:${x.commit}:${x.orders.size}`).join(' ');
        throw new Error(`${l.id} lacks acknowledged ${orderId} ${JSON.stringify(result)}; commits ${commits}`);
      }
      expect({ orderId, status: recorded.status, seq: recorded.seq }).toEqual({
        orderId,
        status: result.status,
        seq: result.seq,
      });
    }
    expect([...l.orders.values()]).toEqual([...reference.orders.values()]);
  }
  const seqs = [...reference.orders.values()]
    .filter((o) => o.status === 'ACCEPTED')
    .map((o) => o.seq!)
    .sort((a, b) => a - b);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  // No seq acknowledged for two different orders (the split brain of issue "Ledger cluster safety", finding 2).
  const bySeq = new Map<number, string>();
  for (const [orderId, r] of acked) {
    if (r.status !== 'ACCEPTED') continue;
    expect({ seq: r.seq, orderId: bySeq.get(r.seq!) ?? orderId }).toEqual({ seq: r.seq, orderId });
    bySeq.set(r.seq!, orderId);
  }
  return reference.orders.size;
}
