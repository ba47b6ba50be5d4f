import type { Order } from '../../../../shared/domain/order';
import { pacedLoad, splitByWindows, type PacedSample } from '../../../../tools/lib/paced-load';

/**
 * The soak's paced load (tools/lib/paced-load.ts): requests leave on schedule whatever the answers do, and a request
 * waiting behind a stall counts the stall from when it was due. The "ledger" here is a function that answers after
 * a millisecond (or fails): the helper's timing is what is tested; npm run soak:raft drives real nodes with it.
 */
describe('pacedLoad', () => {
  it('keeps the schedule and counts latency from when each request was due, not from when it was sent', async () => {
    const orders: string[] = [];
    let blocked = false;
    const started = Date.now();
    const result = await pacedLoad({
      rate: 200,
      batch: 2,
      seconds: 1,
      log: () => undefined,
      send: async (batch: Order[]) => {
        orders.push(...batch.map((o) => o.orderId));
        // Once, this process stops for 300 ms (as a node's or the client's event loop does in a stall): the
        // requests due meanwhile leave late, and their latency includes the wait.
        if (!blocked && Date.now() - started > 300) {
          blocked = true;
          const until = Date.now() + 300;
          while (Date.now() < until);
        }
        await new Promise((r) => setTimeout(r, 1));
      },
    });
    // 100 requests of 2 orders due in one second, each order id once.
    expect(result.samples).toHaveLength(100);
    expect(new Set(orders).size).toBe(200);
    expect(result).toMatchObject({ failed: 0, skipped: 0 });
    // About 30 requests were due during the 300 ms: the first waited ~300 ms, the last ~0; a client timing from the
    // send would have seen none of it.
    const late = result.samples.filter((s) => s.ms > 150);
    expect(late.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...late.map((s) => s.ms))).toBeGreaterThan(250);
  });

  it('counts a failed request and skips sending past the in-flight cap', async () => {
    const result = await pacedLoad({
      rate: 1000,
      batch: 1,
      seconds: 0.2,
      maxInFlight: 5,
      log: () => undefined,
      send: () => new Promise((_, fail) => setTimeout(() => fail(new Error('refused')), 100)),
    });
    expect(result.samples).toEqual([]);
    expect(result.failed).toBeGreaterThan(0);
    expect(result.skipped).toBeGreaterThan(0);
    expect(result.failed + result.skipped).toBeGreaterThanOrEqual(190);
  });
});

describe('splitByWindows', () => {
  const sample = (dueAt: number, doneAt: number): PacedSample => ({ dueAt, doneAt, ms: doneAt - dueAt });

  it('puts a request overlapping a window (due before its end, answered after its start) in `during`', () => {
    const samples = [sample(0, 5), sample(10, 25), sample(30, 31), sample(45, 60), sample(70, 71)];
    const split = splitByWindows(samples, [{ from: 20, to: 50 }]);
    expect(split.during).toMatchObject({ requests: 3, max: 15 });
    expect(split.outside).toMatchObject({ requests: 2, max: 5 });
    expect(splitByWindows(samples, []).during.requests).toBe(0);
  });
});
