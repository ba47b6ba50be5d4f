import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** One stored log event; `seq` is unique across the store and orders events with equal timestamps. */
export interface StoredEvent {
  readonly timestamp: number;
  readonly message: string;
  readonly ingestionTime: number;
  readonly seq: number;
}

export interface LogStream {
  readonly name: string;
  readonly creationTime: number;
  /** Sorted by (timestamp, seq). */
  events: StoredEvent[];
  lastIngestionTime?: number;
  storedBytes: number;
}

export interface LogGroup {
  readonly name: string;
  readonly creationTime: number;
  retentionInDays?: number;
  readonly streams: Map<string, LogStream>;
}

type JournalRecord =
  | { op: 'createGroup'; g: string; t: number }
  | { op: 'deleteGroup'; g: string }
  | { op: 'createStream'; g: string; s: string; t: number }
  | { op: 'deleteStream'; g: string; s: string }
  | { op: 'retention'; g: string; days: number | null }
  /** Written by compaction, so event ids stay unique even when every event was dropped. */
  | { op: 'seq'; next: number }
  /** Events as [timestamp, ingestionTime, seq, message]. */
  | { op: 'events'; g: string; s: string; e: [number, number, number, string][] };

const DAY_MS = 86_400_000;

/** Ordering of events by (timestamp, seq). */
export function compareKey(a: { timestamp: number; seq: number }, b: { timestamp: number; seq: number }): number {
  return a.timestamp - b.timestamp || a.seq - b.seq;
}

/** Index of the first event whose key is greater than (timestamp, seq) — binary search. */
export function firstAfter(events: readonly StoredEvent[], timestamp: number, seq: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = events[mid] as StoredEvent;
    if (e.timestamp < timestamp || (e.timestamp === timestamp && e.seq <= seq)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The log data: groups, streams and events in memory (the index every query reads), and an
 * append-only JSON-lines journal in the data dir that is replayed at start. A torn last line (crash
 * mid-write) is ignored. At start, records for deleted groups and expired events are compacted away.
 */
export class LogStore {
  private readonly groups = new Map<string, LogGroup>();
  private nextSeq = 1;
  private fd: number | undefined;

  private constructor(
    private readonly journalPath: string | undefined,
    readonly now: () => number,
  ) {}

  /** Opens (and replays) the store in `dataDir`; in memory only when `dataDir` is undefined. */
  static open(dataDir: string | undefined, now: () => number = Date.now): LogStore {
    if (!dataDir) return new LogStore(undefined, now);
    mkdirSync(dataDir, { recursive: true });
    const journalPath = join(dataDir, 'journal.jsonl');
    const store = new LogStore(journalPath, now);
    const existed = existsSync(journalPath);
    if (existed) {
      for (const line of readFileSync(journalPath, 'utf8').split('\n')) {
        if (!line) continue;
        let record: JournalRecord;
        try {
          record = JSON.parse(line) as JournalRecord;
        } catch {
          continue; // a torn write at the end of the journal
        }
        store.apply(record);
      }
    }
    store.dropExpired();
    // Also drops a torn last line, so the next append does not glue onto it.
    if (existed) store.compact();
    store.fd = openSync(journalPath, 'a');
    return store;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  listGroups(): LogGroup[] {
    return [...this.groups.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  getGroup(name: string): LogGroup | undefined {
    return this.groups.get(name);
  }

  createGroup(name: string): void {
    this.commit({ op: 'createGroup', g: name, t: this.now() });
  }

  deleteGroup(name: string): void {
    this.commit({ op: 'deleteGroup', g: name });
  }

  createStream(group: string, stream: string): void {
    this.commit({ op: 'createStream', g: group, s: stream, t: this.now() });
  }

  deleteStream(group: string, stream: string): void {
    this.commit({ op: 'deleteStream', g: group, s: stream });
  }

  setRetention(group: string, days: number | undefined): void {
    this.commit({ op: 'retention', g: group, days: days ?? null });
  }

  /** Appends events (already validated, in chronological order) and returns them as stored. */
  appendEvents(group: string, stream: string, events: { timestamp: number; message: string }[]): StoredEvent[] {
    const ingestionTime = this.now();
    const e = events.map((ev): [number, number, number, string] => [
      ev.timestamp,
      ingestionTime,
      this.nextSeq++,
      ev.message,
    ]);
    this.commit({ op: 'events', g: group, s: stream, e });
    return e.map(([timestamp, ingestion, seq, message]) => ({ timestamp, ingestionTime: ingestion, seq, message }));
  }

  /** The stream's events still within the group's retention (expired ones are dropped on the way). */
  liveEvents(group: LogGroup, stream: LogStream): StoredEvent[] {
    const cutoff = this.retentionCutoff(group);
    if (cutoff !== undefined && stream.events.length > 0 && (stream.events[0] as StoredEvent).timestamp < cutoff) {
      const keepFrom = firstAfter(stream.events, cutoff - 1, Number.MAX_SAFE_INTEGER);
      for (const dropped of stream.events.slice(0, keepFrom)) stream.storedBytes -= Buffer.byteLength(dropped.message);
      stream.events = stream.events.slice(keepFrom);
    }
    return stream.events;
  }

  /** Events with a timestamp below this are past the group's retention. */
  retentionCutoff(group: LogGroup): number | undefined {
    return group.retentionInDays === undefined ? undefined : this.now() - group.retentionInDays * DAY_MS;
  }

  private commit(record: JournalRecord): void {
    if (this.fd !== undefined) writeSync(this.fd, `${JSON.stringify(record)}\n`);
    this.apply(record);
  }

  private apply(record: JournalRecord): void {
    switch (record.op) {
      case 'createGroup':
        this.groups.set(record.g, { name: record.g, creationTime: record.t, streams: new Map() });
        return;
      case 'deleteGroup':
        this.groups.delete(record.g);
        return;
      case 'createStream':
        this.groups
          .get(record.g)
          ?.streams.set(record.s, { name: record.s, creationTime: record.t, events: [], storedBytes: 0 });
        return;
      case 'deleteStream':
        this.groups.get(record.g)?.streams.delete(record.s);
        return;
      case 'seq':
        this.nextSeq = Math.max(this.nextSeq, record.next);
        return;
      case 'retention': {
        const group = this.groups.get(record.g);
        if (group) group.retentionInDays = record.days ?? undefined;
        return;
      }
      case 'events': {
        const stream = this.groups.get(record.g)?.streams.get(record.s);
        if (!stream) return;
        const added = record.e.map(([timestamp, ingestionTime, seq, message]) => ({
          timestamp,
          ingestionTime,
          seq,
          message,
        }));
        for (const ev of added) {
          stream.storedBytes += Buffer.byteLength(ev.message);
          if (ev.seq >= this.nextSeq) this.nextSeq = ev.seq + 1;
          stream.lastIngestionTime = ev.ingestionTime;
        }
        const last = stream.events[stream.events.length - 1];
        const first = added[0];
        if (!last || !first || compareKey(last, first) < 0) {
          for (const ev of added) stream.events.push(ev);
        } else {
          // A batch older than events already stored: merge it into place.
          stream.events = [...stream.events, ...added].sort(compareKey);
        }
        return;
      }
    }
  }

  private dropExpired(): void {
    for (const group of this.groups.values())
      for (const stream of group.streams.values()) this.liveEvents(group, stream);
  }

  /** Rewrites the journal as the live state only (atomic rename), so deleted and expired data leave the disk. */
  private compact(): void {
    if (!this.journalPath) return;
    const lines: string[] = [JSON.stringify({ op: 'seq', next: this.nextSeq })];
    for (const group of this.groups.values()) {
      lines.push(JSON.stringify({ op: 'createGroup', g: group.name, t: group.creationTime }));
      if (group.retentionInDays !== undefined) {
        lines.push(JSON.stringify({ op: 'retention', g: group.name, days: group.retentionInDays }));
      }
      for (const stream of group.streams.values()) {
        lines.push(JSON.stringify({ op: 'createStream', g: group.name, s: stream.name, t: stream.creationTime }));
        for (let i = 0; i < stream.events.length; i += 1000) {
          const e = stream.events.slice(i, i + 1000).map((ev) => [ev.timestamp, ev.ingestionTime, ev.seq, ev.message]);
          lines.push(JSON.stringify({ op: 'events', g: group.name, s: stream.name, e }));
        }
      }
    }
    const tmp = `${this.journalPath}.compact`;
    writeFileSync(tmp, lines.map((l) => `${l}\n`).join(''));
    renameSync(tmp, this.journalPath);
  }
}
