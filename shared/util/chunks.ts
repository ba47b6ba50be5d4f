/**
 * Splits `items`, in their order, into runs of at most `maxCount` items whose `sizeOf` adds up to at most `maxBytes`;
 * an item bigger than `maxBytes` alone is a run of its own (the caller's limit above this one decides about it).
 */
export function chunksBy<T>(
  items: readonly T[],
  maxCount: number,
  maxBytes: number,
  sizeOf: (item: T) => number,
): T[][] {
  const out: T[][] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    const open = out.at(-1);
    if (open && open.length < maxCount && bytes + size <= maxBytes) {
      open.push(item);
      bytes += size;
    } else {
      out.push([item]);
      bytes = size;
    }
  }
  return out;
}

/** Items by group (a FIFO batch by message group, say), each group in the items' order (Map keeps first-seen order). */
export function byGroup<T, K = string>(items: readonly T[], groupOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const group = groupOf(item);
    const list = groups.get(group);
    if (list) list.push(item);
    else groups.set(group, [item]);
  }
  return groups;
}
