import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-cloudwatch-logs';
import { createCloudWatchLogsClient } from '../../shared/aws/clients';

/** Where function output goes: one log stream per worker, as Lambda does. */
export interface LogSink {
  write(group: string, stream: string, message: string, timestamp?: number): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface PendingStream {
  group: string;
  stream: string;
  events: { timestamp: number; message: string }[];
  created: boolean;
}

/**
 * Writes through the CloudWatch Logs API (the SDK client, so it works against our logs emulator, the
 * edge endpoint, LocalStack or AWS). Events are buffered and sent every `flushIntervalMs` per stream,
 * in order, with at most one PutLogEvents in flight per stream.
 */
export class CloudWatchLogSink implements LogSink {
  private readonly client: CloudWatchLogsClient;
  private readonly streams = new Map<string, PendingStream>();
  private readonly createdGroups = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  private warned = false;

  constructor(opts: { endpoint?: string; flushIntervalMs?: number } = {}) {
    this.client = createCloudWatchLogsClient(opts.endpoint ? { endpoint: opts.endpoint } : {});
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  write(group: string, stream: string, message: string, timestamp = Date.now()): void {
    const key = `${group}\u0000${stream}`;
    let pending = this.streams.get(key);
    if (!pending) {
      pending = { group, stream, events: [], created: false };
      this.streams.set(key, pending);
    }
    pending.events.push({ timestamp, message });
  }

  flush(): Promise<void> {
    this.flushing ??= this.flushAll().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.flush();
    this.client.destroy();
  }

  private async flushAll(): Promise<void> {
    await Promise.all([...this.streams.values()].filter((s) => s.events.length > 0).map((s) => this.flushStream(s)));
  }

  private async flushStream(s: PendingStream): Promise<void> {
    const events = s.events.splice(0, 10_000);
    try {
      if (!s.created) {
        if (!this.createdGroups.has(s.group)) {
          await ignoreExists(this.client.send(new CreateLogGroupCommand({ logGroupName: s.group })));
          this.createdGroups.add(s.group);
        }
        await ignoreExists(
          this.client.send(new CreateLogStreamCommand({ logGroupName: s.group, logStreamName: s.stream })),
        );
        s.created = true;
      }
      await this.client.send(
        new PutLogEventsCommand({ logGroupName: s.group, logStreamName: s.stream, logEvents: events }),
      );
    } catch (err) {
      // Logging must not stop the functions; the first failure is reported so it is never silent.
      if (!this.warned) {
        this.warned = true;
        process.stderr.write(
          `[runtime] CloudWatch Logs write to ${s.group} failed (further failures not repeated): ${(err as Error).message}\n`,
        );
      }
    }
  }
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ResourceAlreadyExistsException) && (err as Error).name !== 'ResourceAlreadyExistsException')
      throw err;
  }
}

/** Keeps log lines in memory, for a caller that reads them back itself (the runtime tests do). */
export class MemoryLogSink implements LogSink {
  readonly lines: { group: string; stream: string; message: string; timestamp: number }[] = [];
  write(group: string, stream: string, message: string, timestamp = Date.now()): void {
    this.lines.push({ group, stream, message, timestamp });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
