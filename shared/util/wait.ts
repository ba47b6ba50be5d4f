/**
 * The one polling wait and the one sleep for product code, tools and tests alike, so every "timed out
 * waiting for …" reads the same and says what it last saw go wrong.
 */

/** Resolves after `ms`, or as soon as `signal` aborts (a stop need not wait out a pause). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export interface WaitForOptions {
  /** Pause between probes (default 100 ms). */
  intervalMs?: number;
  /**
   * `'throw'`: a probe that throws ends the wait with its error (it saw something that will not heal); a function
   * decides per error.
   */
  onError?: 'retry' | 'throw' | ((err: unknown) => 'retry' | 'throw');
}

/**
 * Calls `probe` until it returns a value other than `undefined` or `false`, and returns that value.
 * A probe that throws counts as "not yet" (a service that is still starting refuses connections); the
 * last such error is named in the timeout's message, so a probe that keeps failing says why.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: WaitForOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      const onError = typeof opts.onError === 'function' ? opts.onError(err) : opts.onError;
      if (onError === 'throw') throw err;
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    await sleep(opts.intervalMs ?? 100);
  }
}
