import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A service's state kept as one JSON file (SSM parameters, S3 indexes, CloudFormation stacks); in memory when no path. */
export class StateFile<T> {
  constructor(
    private readonly path: string | undefined,
    private readonly initial: () => T,
    /** File mode when written (e.g. 0o600 for state holding keys); default the process umask's. */
    private readonly options: { mode?: number } = {},
  ) {}

  load(): T {
    if (!this.path || !existsSync(this.path)) return this.initial();
    return JSON.parse(readFileSync(this.path, 'utf8')) as T;
  }

  /** Written to a temporary file and renamed over the old one, so a crash mid-write never leaves half a file. */
  save(value: T): void {
    if (!this.path) return;
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(`${this.path}.tmp`, JSON.stringify(value), this.options.mode ? { mode: this.options.mode } : {});
    renameSync(`${this.path}.tmp`, this.path);
  }
}
