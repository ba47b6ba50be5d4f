import { CoalescingWriter } from '../../../../shared/ledger-contract/framing';

/**
 * The coalesced writes of the binary protocol (shared/ledger-contract/framing.ts): frames queued by one callback
 * and the promise continuations it sets off leave as one buffer, before the event loop turns (no setImmediate hop
 * for a lone reply), and nothing is written while the connection is not ready.
 */

const frame = (byte: number) => Buffer.from([byte]);

describe('CoalescingWriter', () => {
  it('writes everything queued by one callback and its promise continuations as one buffer', async () => {
    const writes: Buffer[] = [];
    const writer = new CoalescingWriter((data) => writes.push(data));
    // Replies resolved together (as when one Ready applies many entries), each a few promise hops deep.
    const replies = [1, 2, 3].map((n) => Promise.resolve(n).then((x) => x));
    for (const r of replies) void r.then((n) => writer.push(frame(n)));
    writer.push(frame(0));
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual([Buffer.from([0, 1, 2, 3])]);
  });

  it('writes before the next turn of the event loop', async () => {
    const order: string[] = [];
    const writer = new CoalescingWriter(() => order.push('write'));
    setImmediate(() => order.push('immediate'));
    writer.push(frame(1));
    // An immediate queued after the first runs after it (a timer here could fire before both on a loaded machine).
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['write', 'immediate']);
  });

  it('holds frames until the connection is ready, then writes them on flush()', async () => {
    const writes: Buffer[] = [];
    let ready = false;
    const writer = new CoalescingWriter(
      (data) => writes.push(data),
      () => ready,
    );
    writer.push(frame(1));
    writer.push(frame(2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual([]);
    ready = true;
    writer.flush();
    expect(writes).toEqual([Buffer.from([1, 2])]);
  });
});
