import type { ThrottleSpec } from './template';

/**
 * API Gateway's stage/route throttling: a token bucket per route that holds `burstLimit` tokens and refills at
 * `rateLimit` per second; a request that finds it empty gets 429. Hand-written: it is a dozen lines, and the clock
 * is injected so the tests can drive it.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  take(key: string, limit: ThrottleSpec): boolean {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: limit.burstLimit, at: now };
    b.tokens = Math.min(limit.burstLimit, b.tokens + ((now - b.at) / 1000) * limit.rateLimit);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets the buckets of an API (a redeploy may change its limits). */
  clear(prefix: string): void {
    for (const k of this.buckets.keys()) if (k.startsWith(prefix)) this.buckets.delete(k);
  }
}
