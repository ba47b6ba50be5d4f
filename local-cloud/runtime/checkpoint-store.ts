import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** How long a checkpoint may wait in memory before it is written: the batches a crash can redeliver. */
export const CHECKPOINT_FLUSH_MS = 200;

/**
 * Where each Kinesis mapping keeps the last sequence number it finished, per shard — the local
 * counterpart of Lambda's internal checkpoint. Kept in a JSON file in the data dir (written through a
 * rename, so a crash leaves the old or the new file, never half of one) so a restart resumes; in memory
 * when no file is given.
 *
 * The file is written at most once per `flushMs` (and at `close`), not once per batch: every mapping's
 * every shard checkpoints after each batch — some hundred batches a second under load — and a write and
 * a rename each on the runtime's event loop was a measurable share of its CPU (docs/performance.md). A
 * crash of the runtime loses at most the last `flushMs` of checkpoints, and the batches after the file's
 * are delivered again: at least once, as Lambda's own poller after a failure; the functions recognise a
 * redelivered record (process by the state's last sequence number, market-data by what it stored already).
 */
export class CheckpointStore {
  private readonly data: Record<string, string>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly file?: string,
    private readonly flushMs = CHECKPOINT_FLUSH_MS,
  ) {
    this.data = {};
    if (file) {
      try {
        Object.assign(this.data, JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new Error(`checkpoint file ${file} is unreadable: ${(err as Error).message}`);
      }
    }
  }

  get(mappingId: string, shardId: string): string | undefined {
    return this.data[`${mappingId}/${shardId}`];
  }

  set(mappingId: string, shardId: string, sequenceNumber: string): void {
    this.data[`${mappingId}/${shardId}`] = sequenceNumber;
    this.changed();
  }

  /** Forgets a shard's checkpoint (one of a stream that is gone): the mapping reads it as a new mapping would. */
  delete(mappingId: string, shardId: string): void {
    delete this.data[`${mappingId}/${shardId}`];
    this.changed();
  }

  private changed(): void {
    if (!this.file || this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.flushMs);
    // A pending write never holds the process open; close() writes it on the way out.
    this.timer.unref();
  }

  /** Writes what is in memory now (if anything changed since the last write). */
  flush(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, this.file);
  }

  /** Writes the last checkpoints; the runtime calls it once its mappings have stopped. */
  close(): void {
    this.flush();
  }
}
