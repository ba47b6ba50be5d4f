import type { ClusterConfig, ConfChangeEntryData, Entry } from './types';

/** Broken internal invariant: the core refuses to continue rather than risk diverging from the cluster. */
export class RaftInvariantError extends Error {
  override name = 'RaftInvariantError';
}

/** Parses the data of a `config` entry. */
export function parseConfChangeEntry(entry: Entry): ConfChangeEntryData {
  if (entry.type !== 'config')
    throw new RaftInvariantError(`entry ${entry.index} is a ${entry.type} entry, not config`);
  return JSON.parse(entry.data) as ConfChangeEntryData;
}

/**
 * The in-memory log after the latest snapshot: entries (snapshotIndex, lastIndex], with what is committed,
 * durable (`stabled`) and applied. The membership configuration in effect at each point is tracked too, because
 * configuration changes take effect when appended (Raft thesis §4.1) and must be undone if the entry is truncated.
 */
export class RaftLog {
  private entries: Entry[];
  snapshotIndex: number;
  snapshotTerm: number;
  committed: number;
  applied: number;
  /** Highest index known durable on this node's disk. */
  stabled: number;
  private baseConfig: ClusterConfig;
  /** Config entries still in the log, ascending by index. */
  private configChanges: { index: number; config: ClusterConfig }[] = [];
  /** Bumped whenever the configuration in effect may have changed, so callers recompute it only then. */
  configEpoch = 0;

  constructor(snapshotIndex: number, snapshotTerm: number, baseConfig: ClusterConfig, entries: Entry[]) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.baseConfig = cloneConfig(baseConfig);
    let expected = snapshotIndex + 1;
    for (const e of entries) {
      if (e.index !== expected) {
        throw new RaftInvariantError(`restored entries are not contiguous: expected index ${expected}, got ${e.index}`);
      }
      expected++;
    }
    this.entries = entries.slice();
    for (const e of this.entries) this.trackConfig(e);
    this.committed = snapshotIndex;
    this.applied = snapshotIndex;
    this.stabled = this.lastIndex();
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    const last = this.entries[this.entries.length - 1];
    return last ? last.term : this.snapshotTerm;
  }

  /** Term at `index`, or undefined if it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    if (index < this.snapshotIndex || index > this.lastIndex()) return undefined;
    return this.entryAt(index).term;
  }

  entryAt(index: number): Entry {
    const e = this.entries[index - this.snapshotIndex - 1];
    if (!e) throw new RaftInvariantError(`no entry ${index} (log holds ${this.firstIndex()}..${this.lastIndex()})`);
    return e;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    if (lo < this.firstIndex()) throw new RaftInvariantError(`slice from ${lo} below first index ${this.firstIndex()}`);
    const end = Math.min(hi, this.lastIndex() + 1);
    if (lo >= end) return [];
    return this.entries.slice(lo - this.snapshotIndex - 1, end - this.snapshotIndex - 1);
  }

  /** Entries not yet durable. */
  unstableEntries(): Entry[] {
    return this.slice(this.stabled + 1, this.lastIndex() + 1);
  }

  /** Leader path: entries carry consecutive indexes after lastIndex. */
  append(entries: Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex() + 1) {
        throw new RaftInvariantError(`append of index ${e.index} after last index ${this.lastIndex()}`);
      }
      this.entries.push(e);
      this.trackConfig(e);
    }
  }

  /**
   * Follower path (§5.3): if our log holds (prevIndex, prevTerm), drop conflicting entries and append the new
   * ones. Returns the index of the last new entry, or null when the consistency check fails.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new RaftInvariantError(`entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      }
      const first = entries[0];
      if (!first) throw new RaftInvariantError('conflict found in an empty batch');
      this.truncateAndAppend(entries.slice(conflict - first.index));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** First index where `entries` differ from (or extend) our log; 0 when all of them are already present. */
  private findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (e.index <= this.snapshotIndex) continue; // compacted, hence committed and matching
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  private truncateAndAppend(entries: Entry[]): void {
    const first = entries[0];
    if (!first) return;
    if (first.index <= this.lastIndex()) {
      this.entries.length = first.index - this.snapshotIndex - 1;
      this.stabled = Math.min(this.stabled, first.index - 1);
      while (this.configChanges.length > 0 && this.configChanges[this.configChanges.length - 1]!.index >= first.index) {
        this.configChanges.pop();
        this.configEpoch++;
      }
    }
    this.append(entries);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} beyond last index ${this.lastIndex()}`);
    }
    this.committed = index;
  }

  /** §5.4.2: commit by counting replicas only for an entry of the current term. */
  maybeCommit(index: number, currentTerm: number): boolean {
    if (index > this.committed && this.term(index) === currentTerm) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  /** The first index of the term that `index` holds (stops at the first index in memory). */
  firstIndexOfTermAt(index: number): number {
    const term = this.term(index);
    let i = index;
    while (i - 1 > this.snapshotIndex && this.term(i - 1) === term) i--;
    return i;
  }

  /** The largest index <= `index` whose term is <= `term` (may reach snapshotIndex - 1, meaning "snapshot needed"). */
  lastIndexWithTermAtMost(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i >= this.snapshotIndex) {
      const t = this.term(i);
      if (t === undefined || t <= term) return i;
      i--;
    }
    return this.snapshotIndex - 1;
  }

  /** Replace the whole log by a snapshot (InstallSnapshot on a follower whose log does not contain it). */
  restore(index: number, term: number, config: ClusterConfig): void {
    this.entries = [];
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.baseConfig = cloneConfig(config);
    this.configChanges = [];
    this.configEpoch++;
    this.committed = index;
    this.stabled = index;
  }

  /** Drop entries <= index (a snapshot of the state machine at `index` exists). */
  compact(index: number): void {
    if (index <= this.snapshotIndex) return;
    if (index > this.applied) throw new RaftInvariantError(`compact to ${index} beyond applied ${this.applied}`);
    const term = this.term(index);
    if (term === undefined) throw new RaftInvariantError(`compact to unknown index ${index}`);
    this.baseConfig = this.configAt(index);
    this.configChanges = this.configChanges.filter((c) => c.index > index);
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Membership in effect once the log holds everything up to `index`. */
  configAt(index: number): ClusterConfig {
    let config = this.baseConfig;
    for (const c of this.configChanges) {
      if (c.index > index) break;
      config = c.config;
    }
    return cloneConfig(config);
  }

  currentConfig(): ClusterConfig {
    return this.configAt(this.lastIndex());
  }

  /** Index of the newest config entry in the log, or 0 if there is none. */
  lastConfigIndex(): number {
    return this.configChanges[this.configChanges.length - 1]?.index ?? 0;
  }

  private trackConfig(e: Entry): void {
    if (e.type === 'config') {
      this.configChanges.push({ index: e.index, config: parseConfChangeEntry(e).config });
      this.configEpoch++;
    }
  }
}

export function cloneConfig(c: ClusterConfig): ClusterConfig {
  return { voters: [...c.voters], learners: [...c.learners] };
}
