/** One party's part in a gathering: exactly one of `join` and `leave` counts (a `leave` after a `join` is a no-op). */
export interface Party<T, R> {
  /** Adds `items` and resolves with the one run's result (or rejects with its error) once every party is in or out. */
  join(items: readonly T[]): Promise<R>;
  /** Takes no part: the others need not wait for this one. */
  leave(): void;
}

/**
 * Gathers the items of a known number of concurrent parties into ONE call of `run`, made when the last party has
 * joined or left (none, when every party left) — a barrier rather than a time window, so nothing waits longer than
 * for the slowest party. Execute uses it to apply the orders of all the message groups of an invocation in one
 * ledger batch instead of one per group, to write their execution records in one transaction, and to send their
 * live updates in one call (docs/performance.md, sessions 33–35).
 */
export function gather<T, R>(parties: number, run: (items: readonly T[]) => Promise<R>): () => Party<T, R> {
  const items: T[] = [];
  const joined: { resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  let arrived = 0;
  const arrive = () => {
    arrived++;
    if (arrived !== parties || joined.length === 0) return;
    // Called from a later microtask, so a `run` that throws rejects every share rather than the last caller alone.
    Promise.resolve(items)
      .then(run)
      .then(
        (result) => joined.forEach((j) => j.resolve(result)),
        (error: unknown) => joined.forEach((j) => j.reject(error)),
      );
  };
  return () => {
    let counted = false;
    const count = () => {
      if (counted) return false;
      counted = true;
      return true;
    };
    return {
      join: (mine) => {
        if (!count()) return Promise.reject(new Error('gather: a party joins once'));
        items.push(...mine);
        const share = new Promise<R>((resolve, reject) => joined.push({ resolve, reject }));
        arrive();
        return share;
      },
      leave: () => {
        if (count()) arrive();
      },
    };
  };
}
