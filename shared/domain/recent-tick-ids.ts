/** How many of a symbol's latest tickIds process remembers to recognise a tick ingested twice. */
export const RECENT_TICK_IDS_LIMIT = 256;

/**
 * The latest tickIds applied to one symbol's strategy state, oldest first, bounded so the state item stays
 * small (256 ids of at most 64 characters: under 17 KB). A duplicate further back than the window is not
 * recognised by this check, but its orders still carry the original ids, which execute deduplicates.
 */
export class RecentTickIds {
  private readonly ids: string[];
  private readonly seen: Set<string>;

  constructor(
    ids: readonly string[],
    private readonly limit: number = RECENT_TICK_IDS_LIMIT,
  ) {
    this.ids = ids.slice(-limit);
    this.seen = new Set(this.ids);
  }

  has(tickId: string): boolean {
    return this.seen.has(tickId);
  }

  add(tickId: string): void {
    this.ids.push(tickId);
    this.seen.add(tickId);
    if (this.ids.length > this.limit) this.seen.delete(this.ids.shift() as string);
  }

  toArray(): string[] {
    return [...this.ids];
  }
}
