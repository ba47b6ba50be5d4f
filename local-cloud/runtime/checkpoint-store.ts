import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Where each Kinesis mapping keeps the last sequence number it finished, per shard — the local
 * counterpart of Lambda's internal checkpoint. Kept in a JSON file in the data dir (written through a
 * rename, so a crash leaves the old or the new file, never half of one) so a restart resumes; in memory
 * when no file is given.
 */
export class CheckpointStore {
  private readonly data: Record<string, string>;

  constructor(private readonly file?: string) {
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
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, this.file);
  }
}
