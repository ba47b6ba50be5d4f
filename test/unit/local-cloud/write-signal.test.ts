import { WriteSignal } from '../../../local-cloud/emulators/write-signal';

describe('WriteSignal (the emulated push of a fan-out mapping)', () => {
  it('wakes a waiting reader at the next write, long before its timeout', async () => {
    const signal = new WriteSignal();
    const started = Date.now();
    const waited = signal.waitAfter(signal.current(), 60_000);
    setTimeout(() => signal.notify(), 5);
    await waited;
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not wait at all when a write landed since the generation was noted (during the read)', async () => {
    const signal = new WriteSignal();
    const noted = signal.current();
    signal.notify();
    const started = Date.now();
    await signal.waitAfter(noted, 60_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('resolves after its timeout when no write comes, and wakes every reader waiting at once', async () => {
    const signal = new WriteSignal();
    const started = Date.now();
    await signal.waitAfter(signal.current(), 30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    const woken: number[] = [];
    const readers = [1, 2, 3].map((n) => signal.waitAfter(signal.current(), 60_000).then(() => woken.push(n)));
    signal.notify();
    await Promise.all(readers);
    expect(woken.sort()).toEqual([1, 2, 3]);
  });

  it('returns as soon as the waiter is told to stop, and forgets it', async () => {
    const signal = new WriteSignal();
    const stop = new AbortController();
    const started = Date.now();
    const waited = signal.waitAfter(signal.current(), 60_000, stop.signal);
    setTimeout(() => stop.abort(), 5);
    await waited;
    expect(Date.now() - started).toBeLessThan(5_000);
    await signal.waitAfter(signal.current(), 60_000, stop.signal); // already stopped: no wait
  });
});
