import type { StreamTick } from './tick';

/**
 * A deterministic market: seeded random walks, one per symbol, emitted round-robin at a fixed rate.
 * Pure: the state carries the PRNG state, so the same seed and start time always give the same ticks.
 */
export interface MarketFeedConfig {
  symbols: readonly string[];
  seed: string;
  /** Ticks per second across all symbols; sets each tick's timestamp. */
  ticksPerSecond: number;
  startTs: number;
  /** Largest relative price move per tick (0.002 = 0.2 %). */
  volatility?: number;
  startPrice?: number;
}

export interface MarketFeedState {
  rng: number;
  step: number;
  prices: Record<string, number>;
}

/** FNV-1a: turns the configured seed string into the PRNG's 32-bit start state. */
function hashSeed(seed: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) {
    hash ^= seed.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * mulberry32, written out here because the feed needs a PRNG whose whole state is one number that can live in
 * a pure state object (Math.random cannot be seeded; library generators hide their state in objects).
 */
function nextRandom(state: number): [number, number] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}

export function initialFeedState(config: MarketFeedConfig): MarketFeedState {
  if (config.symbols.length === 0) throw new Error('market feed needs at least one symbol');
  if (!(config.ticksPerSecond > 0)) throw new Error('market feed needs a positive ticksPerSecond');
  const startPrice = config.startPrice ?? 100;
  return {
    rng: hashSeed(config.seed),
    step: 0,
    prices: Object.fromEntries(config.symbols.map((s) => [s, startPrice])),
  };
}

export function nextTick(
  config: MarketFeedConfig,
  state: MarketFeedState,
): { tick: StreamTick; state: MarketFeedState } {
  const symbol = config.symbols[state.step % config.symbols.length] as string;
  const volatility = config.volatility ?? 0.002;
  const [moveDraw, rngAfterMove] = nextRandom(state.rng);
  const [sizeDraw, rng] = nextRandom(rngAfterMove);
  const previous = state.prices[symbol] ?? config.startPrice ?? 100;
  const price = Math.max(0.01, Math.round(previous * (1 + (moveDraw * 2 - 1) * volatility) * 100) / 100);
  const tick: StreamTick = {
    symbol,
    price,
    size: 1 + Math.floor(sizeDraw * 100),
    ts: config.startTs + Math.floor((state.step * 1000) / config.ticksPerSecond),
    tickId: `feed-${hashSeed(config.seed).toString(36)}-${config.startTs}-${state.step}`,
  };
  return { tick, state: { rng, step: state.step + 1, prices: { ...state.prices, [symbol]: price } } };
}

/** The next `count` ticks and the state after them. */
export function takeTicks(
  config: MarketFeedConfig,
  state: MarketFeedState,
  count: number,
): { ticks: StreamTick[]; state: MarketFeedState } {
  const ticks: StreamTick[] = [];
  let current = state;
  for (let i = 0; i < count; i++) {
    const next = nextTick(config, current);
    ticks.push(next.tick);
    current = next.state;
  }
  return { ticks, state: current };
}
