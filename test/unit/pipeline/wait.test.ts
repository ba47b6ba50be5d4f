import { sleep } from '../../../shared/util/wait';

/** shared/util/wait.ts's sleep: the whole pause, or up to a stop signal. Real timers, short pauses. */
describe('sleep', () => {
  it('waits the whole pause without a signal', async () => {
    const started = performance.now();
    await sleep(40);
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });

  it('ends when its signal aborts, well before the pause', async () => {
    const stop = new AbortController();
    const started = performance.now();
    setTimeout(() => stop.abort('SIGINT'), 20);
    await sleep(10_000, stop.signal);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('ends at once on a signal aborted before it began', async () => {
    const started = performance.now();
    await sleep(10_000, AbortSignal.abort('SIGINT'));
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});
