import { sleep } from '../../shared/util/wait';

/**
 * Tells a waiting reader that an emulator took a write — the stand-in for SubscribeToShard's push, which kinesalite
 * lacks: its process reports each PutRecord(s) it answered (emulators/kinesis.ts) and a fan-out mapping reads its shard
 * then, instead of polling it (runtime/kinesis-mapping.ts).
 *
 * Each notify() moves a generation on. A reader notes the generation before it reads and then waits with
 * `waitAfter(noted, ms)`, which resolves at once when a write landed since (during the read, say), otherwise at the
 * next write or after `ms`, whichever comes first — so no write is slept through, and a lost signal costs `ms` at most.
 */
export class WriteSignal {
  private generation = 0;
  private readonly waiters = new Set<() => void>();

  current(): number {
    return this.generation;
  }

  notify(): void {
    this.generation++;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Also resolves as soon as `stop` aborts (a mapping that stops need not wait out `ms`). */
  async waitAfter(noted: number, ms: number, stop?: AbortSignal): Promise<void> {
    if (this.generation !== noted || stop?.aborted) return;
    const written = new AbortController();
    const wake = () => written.abort();
    this.waiters.add(wake);
    stop?.addEventListener('abort', wake, { once: true });
    try {
      await sleep(ms, written.signal);
    } finally {
      this.waiters.delete(wake);
      stop?.removeEventListener('abort', wake);
    }
  }
}
