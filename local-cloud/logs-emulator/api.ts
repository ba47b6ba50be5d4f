import { z } from 'zod';
import { compileFilterPattern, FilterPatternError } from './filter-pattern';
import { compareKey, firstAfter, type LogGroup, type LogStore, type LogStream, type StoredEvent } from './store';

/** An error AWS would return: its exception name goes into `__type`, the HTTP status is 400. */
export class LogsApiError extends Error {
  constructor(
    readonly type:
      | 'ResourceNotFoundException'
      | 'ResourceAlreadyExistsException'
      | 'InvalidParameterException'
      | 'UnknownOperationException'
      | 'SerializationException',
    message: string,
  ) {
    super(message);
  }
}

export interface RequestContext {
  region: string;
  accountId: string;
}

const DAY_MS = 86_400_000;
const MAX_BATCH_EVENTS = 10_000;
/** AWS counts each event as its UTF-8 message bytes plus 26 bytes. */
const EVENT_OVERHEAD_BYTES = 26;
const MAX_BATCH_BYTES = 1_048_576;
const MAX_EVENT_BYTES = 262_144;
const MAX_RESPONSE_BYTES = 1_048_576;
const MAX_EVENT_AGE_MS = 14 * DAY_MS;
const MAX_EVENT_FUTURE_MS = 2 * 60 * 60 * 1000;
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const groupName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[.\-_/#A-Za-z0-9]+$/, 'may contain only letters, digits and . - _ / #');
const streamName = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[^:*]*$/, "must not contain ':' or '*'");
const timestamp = z.number().int().nonnegative();
const describeLimit = z.number().int().min(1).max(50).optional();
const eventLimit = z.number().int().min(1).max(10_000).optional();

/** logGroupIdentifier accepts a name or an ARN (arn:aws:logs:region:account:log-group:NAME[:*]). */
const groupSelector = z
  .object({ logGroupName: groupName.optional(), logGroupIdentifier: z.string().min(1).optional() })
  .refine((v) => (v.logGroupName === undefined) !== (v.logGroupIdentifier === undefined), {
    message: 'exactly one of logGroupName and logGroupIdentifier is required',
  });

function selectedGroupName(v: { logGroupName?: string; logGroupIdentifier?: string }): string {
  if (v.logGroupName !== undefined) return v.logGroupName;
  const id = v.logGroupIdentifier as string;
  const arn = /^arn:[^:]+:logs:[^:]*:[^:]*:log-group:([^:]+)(:\*)?$/.exec(id);
  return arn ? (arn[1] as string) : id;
}

const schemas = {
  CreateLogGroup: z.object({
    logGroupName: groupName,
    kmsKeyId: z.string().optional(),
    tags: z.record(z.string(), z.string()).optional(),
  }),
  DeleteLogGroup: z.object({ logGroupName: groupName }),
  CreateLogStream: z.object({ logGroupName: groupName, logStreamName: streamName }),
  DeleteLogStream: z.object({ logGroupName: groupName, logStreamName: streamName }),
  PutRetentionPolicy: z.object({ logGroupName: groupName, retentionInDays: z.number().int() }),
  DeleteRetentionPolicy: z.object({ logGroupName: groupName }),
  DescribeLogGroups: z.object({
    logGroupNamePrefix: z.string().min(1).optional(),
    logGroupNamePattern: z.string().min(1).optional(),
    nextToken: z.string().optional(),
    limit: describeLimit,
  }),
  DescribeLogStreams: z.intersection(
    groupSelector,
    z.object({
      logStreamNamePrefix: z.string().min(1).optional(),
      orderBy: z.enum(['LogStreamName', 'LastEventTime']).optional(),
      descending: z.boolean().optional(),
      nextToken: z.string().optional(),
      limit: describeLimit,
    }),
  ),
  PutLogEvents: z.object({
    logGroupName: groupName,
    logStreamName: streamName,
    logEvents: z.array(z.object({ timestamp, message: z.string().min(1) })).min(1),
    sequenceToken: z.string().optional(),
  }),
  GetLogEvents: z.intersection(
    groupSelector,
    z.object({
      logStreamName: streamName,
      startTime: timestamp.optional(),
      endTime: timestamp.optional(),
      nextToken: z.string().optional(),
      limit: eventLimit,
      startFromHead: z.boolean().optional(),
      unmask: z.boolean().optional(),
    }),
  ),
  FilterLogEvents: z.intersection(
    groupSelector,
    z.object({
      logStreamNames: z.array(streamName).min(1).max(100).optional(),
      logStreamNamePrefix: z.string().min(1).optional(),
      startTime: timestamp.optional(),
      endTime: timestamp.optional(),
      filterPattern: z.string().max(1024).optional(),
      nextToken: z.string().optional(),
      limit: eventLimit,
      interleaved: z.boolean().optional(),
      unmask: z.boolean().optional(),
    }),
  ),
} as const;

export type LogsAction = keyof typeof schemas;
export const SUPPORTED_ACTIONS = Object.keys(schemas) as LogsAction[];

function parseInput<A extends LogsAction>(action: A, input: unknown): z.infer<(typeof schemas)[A]> {
  const result = schemas[action].safeParse(input ?? {});
  if (!result.success) {
    const detail = result.error.issues
      .map((i) => `${i.path.length ? i.path.join('.') : 'request'}: ${i.message}`)
      .join('; ');
    throw new LogsApiError('InvalidParameterException', `${action}: ${detail}`);
  }
  return result.data as z.infer<(typeof schemas)[A]>;
}

/** Opaque pagination tokens: base64url JSON. A token we did not issue is rejected, as AWS does. */
function encodeToken(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function decodeToken<T>(token: string, schema: z.ZodType<T>): T {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the error below
  }
  throw new LogsApiError('InvalidParameterException', 'The specified nextToken is invalid.');
}

const offsetToken = z.object({ o: z.number().int().nonnegative() });
const eventKeyToken = z.object({ t: z.number().int(), s: z.number().int() });

function paginate<T>(items: T[], nextToken: string | undefined, limit: number): { page: T[]; nextToken?: string } {
  const offset = nextToken === undefined ? 0 : decodeToken(nextToken, offsetToken).o;
  const page = items.slice(offset, offset + limit);
  const next = offset + limit < items.length ? encodeToken({ o: offset + limit }) : undefined;
  return next === undefined ? { page } : { page, nextToken: next };
}

/** The CloudWatch Logs actions over a LogStore; request validation and response shapes follow the AWS API. */
export class LogsApi {
  constructor(private readonly store: LogStore) {}

  handle(action: string, input: unknown, ctx: RequestContext): unknown {
    switch (action) {
      case 'CreateLogGroup':
        return this.createLogGroup(parseInput(action, input));
      case 'DeleteLogGroup':
        return this.deleteLogGroup(parseInput(action, input));
      case 'CreateLogStream':
        return this.createLogStream(parseInput(action, input));
      case 'DeleteLogStream':
        return this.deleteLogStream(parseInput(action, input));
      case 'PutRetentionPolicy':
        return this.putRetentionPolicy(parseInput(action, input));
      case 'DeleteRetentionPolicy':
        return this.deleteRetentionPolicy(parseInput(action, input));
      case 'DescribeLogGroups':
        return this.describeLogGroups(parseInput(action, input), ctx);
      case 'DescribeLogStreams':
        return this.describeLogStreams(parseInput(action, input), ctx);
      case 'PutLogEvents':
        return this.putLogEvents(parseInput(action, input));
      case 'GetLogEvents':
        return this.getLogEvents(parseInput(action, input));
      case 'FilterLogEvents':
        return this.filterLogEvents(parseInput(action, input));
      default:
        throw new LogsApiError(
          'UnknownOperationException',
          `The CloudWatch Logs emulator does not implement ${action}; supported: ${SUPPORTED_ACTIONS.join(', ')}`,
        );
    }
  }

  private group(name: string): LogGroup {
    const group = this.store.getGroup(name);
    if (!group) throw new LogsApiError('ResourceNotFoundException', 'The specified log group does not exist.');
    return group;
  }

  private stream(group: LogGroup, name: string): LogStream {
    const stream = group.streams.get(name);
    if (!stream) throw new LogsApiError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return stream;
  }

  private createLogGroup(input: z.infer<typeof schemas.CreateLogGroup>): object {
    if (this.store.getGroup(input.logGroupName)) {
      throw new LogsApiError('ResourceAlreadyExistsException', 'The specified log group already exists');
    }
    this.store.createGroup(input.logGroupName);
    return {};
  }

  private deleteLogGroup(input: z.infer<typeof schemas.DeleteLogGroup>): object {
    this.group(input.logGroupName);
    this.store.deleteGroup(input.logGroupName);
    return {};
  }

  private createLogStream(input: z.infer<typeof schemas.CreateLogStream>): object {
    const group = this.group(input.logGroupName);
    if (group.streams.has(input.logStreamName)) {
      throw new LogsApiError('ResourceAlreadyExistsException', 'The specified log stream already exists');
    }
    this.store.createStream(input.logGroupName, input.logStreamName);
    return {};
  }

  private deleteLogStream(input: z.infer<typeof schemas.DeleteLogStream>): object {
    this.stream(this.group(input.logGroupName), input.logStreamName);
    this.store.deleteStream(input.logGroupName, input.logStreamName);
    return {};
  }

  private putRetentionPolicy(input: z.infer<typeof schemas.PutRetentionPolicy>): object {
    if (!RETENTION_DAYS.includes(input.retentionInDays)) {
      throw new LogsApiError(
        'InvalidParameterException',
        `retentionInDays ${input.retentionInDays} is not one of ${RETENTION_DAYS.join(', ')}`,
      );
    }
    this.group(input.logGroupName);
    this.store.setRetention(input.logGroupName, input.retentionInDays);
    return {};
  }

  private deleteRetentionPolicy(input: z.infer<typeof schemas.DeleteRetentionPolicy>): object {
    this.group(input.logGroupName);
    this.store.setRetention(input.logGroupName, undefined);
    return {};
  }

  private describeLogGroups(input: z.infer<typeof schemas.DescribeLogGroups>, ctx: RequestContext): object {
    if (input.logGroupNamePrefix !== undefined && input.logGroupNamePattern !== undefined) {
      throw new LogsApiError(
        'InvalidParameterException',
        'logGroupNamePrefix and logGroupNamePattern are mutually exclusive',
      );
    }
    const pattern = input.logGroupNamePattern?.toLowerCase();
    const groups = this.store
      .listGroups()
      .filter((g) => input.logGroupNamePrefix === undefined || g.name.startsWith(input.logGroupNamePrefix))
      .filter((g) => pattern === undefined || g.name.toLowerCase().includes(pattern));
    const { page, nextToken } = paginate(groups, input.nextToken, input.limit ?? 50);
    const logGroups = page.map((g) => {
      const arn = `arn:aws:logs:${ctx.region}:${ctx.accountId}:log-group:${g.name}`;
      let storedBytes = 0;
      for (const s of g.streams.values()) {
        this.store.liveEvents(g, s);
        storedBytes += s.storedBytes;
      }
      return {
        logGroupName: g.name,
        creationTime: g.creationTime,
        ...(g.retentionInDays !== undefined ? { retentionInDays: g.retentionInDays } : {}),
        metricFilterCount: 0,
        arn: `${arn}:*`,
        logGroupArn: arn,
        storedBytes,
        logGroupClass: 'STANDARD',
      };
    });
    return nextToken === undefined ? { logGroups } : { logGroups, nextToken };
  }

  private describeLogStreams(input: z.infer<typeof schemas.DescribeLogStreams>, ctx: RequestContext): object {
    const orderBy = input.orderBy ?? 'LogStreamName';
    if (orderBy === 'LastEventTime' && input.logStreamNamePrefix !== undefined) {
      throw new LogsApiError('InvalidParameterException', 'Cannot order by LastEventTime with a logStreamNamePrefix.');
    }
    const group = this.group(selectedGroupName(input));
    const streams = [...group.streams.values()].filter(
      (s) => input.logStreamNamePrefix === undefined || s.name.startsWith(input.logStreamNamePrefix),
    );
    const lastEventTime = (s: LogStream) => s.events[s.events.length - 1]?.timestamp ?? 0;
    streams.sort((a, b) =>
      orderBy === 'LastEventTime'
        ? lastEventTime(a) - lastEventTime(b) || (a.name < b.name ? -1 : 1)
        : a.name < b.name
          ? -1
          : a.name > b.name
            ? 1
            : 0,
    );
    if (input.descending) streams.reverse();
    const { page, nextToken } = paginate(streams, input.nextToken, input.limit ?? 50);
    const logStreams = page.map((s) => {
      const events = this.store.liveEvents(group, s);
      const first = events[0];
      const last = events[events.length - 1];
      return {
        logStreamName: s.name,
        creationTime: s.creationTime,
        ...(first && last
          ? {
              firstEventTimestamp: first.timestamp,
              lastEventTimestamp: last.timestamp,
              lastIngestionTime: s.lastIngestionTime,
            }
          : {}),
        arn: `arn:aws:logs:${ctx.region}:${ctx.accountId}:log-group:${group.name}:log-stream:${s.name}`,
        storedBytes: s.storedBytes,
      };
    });
    return nextToken === undefined ? { logStreams } : { logStreams, nextToken };
  }

  private putLogEvents(input: z.infer<typeof schemas.PutLogEvents>): object {
    const events = input.logEvents;
    if (events.length > MAX_BATCH_EVENTS) {
      throw new LogsApiError('InvalidParameterException', `A batch can hold at most ${MAX_BATCH_EVENTS} log events`);
    }
    let batchBytes = 0;
    for (const [i, ev] of events.entries()) {
      const bytes = Buffer.byteLength(ev.message) + EVENT_OVERHEAD_BYTES;
      if (bytes > MAX_EVENT_BYTES) {
        throw new LogsApiError(
          'InvalidParameterException',
          `Log event ${i} is ${bytes} bytes; the maximum is ${MAX_EVENT_BYTES} (message bytes + 26)`,
        );
      }
      batchBytes += bytes;
      const previous = events[i - 1];
      if (previous && ev.timestamp < previous.timestamp) {
        throw new LogsApiError(
          'InvalidParameterException',
          'Log events in a single PutLogEvents request must be in chronological order.',
        );
      }
    }
    if (batchBytes > MAX_BATCH_BYTES) {
      throw new LogsApiError(
        'InvalidParameterException',
        `The batch is ${batchBytes} bytes; the maximum is ${MAX_BATCH_BYTES} (sum of message bytes + 26 per event)`,
      );
    }
    const firstEvent = events[0] as { timestamp: number };
    const lastEvent = events[events.length - 1] as { timestamp: number };
    if (lastEvent.timestamp - firstEvent.timestamp > DAY_MS) {
      throw new LogsApiError(
        'InvalidParameterException',
        'The batch of log events in a single PutLogEvents request cannot span more than 24 hours.',
      );
    }
    const group = this.group(input.logGroupName);
    this.stream(group, input.logStreamName);

    // Chronological order makes the too-old events a prefix and the too-new ones a suffix.
    const now = this.store.now();
    const retentionCutoff = this.store.retentionCutoff(group);
    const countBefore = (limit: number) => {
      const i = events.findIndex((e) => e.timestamp >= limit);
      return i < 0 ? events.length : i;
    };
    const tooOldEnd = countBefore(now - MAX_EVENT_AGE_MS);
    const expiredEnd = retentionCutoff === undefined ? 0 : countBefore(retentionCutoff);
    const keepFrom = Math.max(tooOldEnd, expiredEnd);
    const tooNewStart = events.findIndex((e) => e.timestamp > now + MAX_EVENT_FUTURE_MS);
    const keepTo = tooNewStart < 0 ? events.length : Math.max(tooNewStart, keepFrom);
    const accepted = events.slice(keepFrom, keepTo);
    if (accepted.length > 0) this.store.appendEvents(group.name, input.logStreamName, accepted);

    const rejected: Record<string, number> = {};
    if (tooOldEnd > 0) rejected.tooOldLogEventEndIndex = tooOldEnd;
    if (expiredEnd > 0) rejected.expiredLogEventEndIndex = expiredEnd;
    if (tooNewStart >= 0) rejected.tooNewLogEventStartIndex = tooNewStart;
    return {
      nextSequenceToken: String(now).padStart(56, '0'),
      ...(Object.keys(rejected).length > 0 ? { rejectedLogEventsInfo: rejected } : {}),
    };
  }

  private getLogEvents(input: z.infer<typeof schemas.GetLogEvents>): object {
    const group = this.group(selectedGroupName(input));
    const stream = this.stream(group, input.logStreamName);
    const limit = input.limit ?? 10_000;
    const all = this.store.liveEvents(group, stream);
    // The time range narrows the candidates in every mode; the token positions within them.
    let lo = input.startTime === undefined ? 0 : firstAfter(all, input.startTime - 1, Number.MAX_SAFE_INTEGER);
    let hi = input.endTime === undefined ? all.length : firstAfter(all, input.endTime - 1, Number.MAX_SAFE_INTEGER);
    const token = input.nextToken === undefined ? undefined : parseStreamToken(input.nextToken);
    let fromHead = input.startFromHead ?? false;
    if (token?.direction === 'f') {
      lo = Math.max(lo, firstAfter(all, token.timestamp, token.seq));
      fromHead = true;
    } else if (token?.direction === 'b') {
      hi = Math.min(hi, firstAfter(all, token.timestamp, token.seq - 1));
      fromHead = false;
    }
    const page = fromHead ? takeForward(all, lo, hi, limit) : takeBackward(all, lo, hi, limit);
    const first = page[0];
    const last = page[page.length - 1];
    const events = page.map((e) => ({ timestamp: e.timestamp, message: e.message, ingestionTime: e.ingestionTime }));
    if (first && last) {
      return {
        events,
        nextForwardToken: streamToken('f', last),
        nextBackwardToken: streamToken('b', first),
      };
    }
    // Nothing here: hand back the token we were given, so pollers and paginators see "no more".
    const position = token ?? { timestamp: -1, seq: -1 };
    return {
      events,
      nextForwardToken: token?.direction === 'f' ? input.nextToken : streamToken('f', position),
      nextBackwardToken: token?.direction === 'b' ? input.nextToken : streamToken('b', position),
    };
  }

  private filterLogEvents(input: z.infer<typeof schemas.FilterLogEvents>): object {
    if (input.logStreamNames !== undefined && input.logStreamNamePrefix !== undefined) {
      throw new LogsApiError(
        'InvalidParameterException',
        'logStreamNames and logStreamNamePrefix are mutually exclusive',
      );
    }
    let matches: (message: string) => boolean;
    try {
      matches = compileFilterPattern(input.filterPattern ?? '');
    } catch (err) {
      if (err instanceof FilterPatternError) {
        throw new LogsApiError('InvalidParameterException', `Invalid filter pattern: ${err.message}`);
      }
      throw err;
    }
    const group = this.group(selectedGroupName(input));
    const streams = [...group.streams.values()].filter(
      (s) =>
        (input.logStreamNames === undefined || input.logStreamNames.includes(s.name)) &&
        (input.logStreamNamePrefix === undefined || s.name.startsWith(input.logStreamNamePrefix)),
    );
    const after = input.nextToken === undefined ? undefined : decodeToken(input.nextToken, eventKeyToken);
    // One cursor per stream, merged by (timestamp, seq): the events come out interleaved.
    const cursors = streams.map((stream) => {
      const events = this.store.liveEvents(group, stream);
      let pos = input.startTime === undefined ? 0 : firstAfter(events, input.startTime - 1, Number.MAX_SAFE_INTEGER);
      if (after) pos = Math.max(pos, firstAfter(events, after.t, after.s));
      const end =
        input.endTime === undefined ? events.length : firstAfter(events, input.endTime - 1, Number.MAX_SAFE_INTEGER);
      return { stream, events, pos, end };
    });
    const limit = input.limit ?? 10_000;
    const found: { stream: LogStream; event: StoredEvent }[] = [];
    let bytes = 0;
    let more = false;
    for (;;) {
      let best: (typeof cursors)[number] | undefined;
      for (const c of cursors) {
        if (c.pos >= c.end) continue;
        if (!best || compareKey(c.events[c.pos] as StoredEvent, best.events[best.pos] as StoredEvent) < 0) best = c;
      }
      if (!best) break;
      const event = best.events[best.pos] as StoredEvent;
      if (!matches(event.message)) {
        best.pos++;
        continue;
      }
      if (found.length >= limit || bytes + event.message.length > MAX_RESPONSE_BYTES) {
        more = true;
        break;
      }
      best.pos++;
      bytes += event.message.length;
      found.push({ stream: best.stream, event });
    }
    const last = found[found.length - 1];
    return {
      events: found.map(({ stream, event }) => ({
        logStreamName: stream.name,
        timestamp: event.timestamp,
        message: event.message,
        ingestionTime: event.ingestionTime,
        eventId: String(event.seq).padStart(20, '0'),
      })),
      searchedLogStreams: streams.map((s) => ({ logStreamName: s.name, searchedCompletely: !more })),
      ...(more && last ? { nextToken: encodeToken({ t: last.event.timestamp, s: last.event.seq }) } : {}),
    };
  }
}

function takeForward(events: StoredEvent[], lo: number, hi: number, limit: number): StoredEvent[] {
  const page: StoredEvent[] = [];
  let bytes = 0;
  for (let i = lo; i < hi && page.length < limit; i++) {
    const e = events[i] as StoredEvent;
    if (page.length > 0 && bytes + e.message.length > MAX_RESPONSE_BYTES) break;
    bytes += e.message.length;
    page.push(e);
  }
  return page;
}

function takeBackward(events: StoredEvent[], lo: number, hi: number, limit: number): StoredEvent[] {
  const page: StoredEvent[] = [];
  let bytes = 0;
  for (let i = hi - 1; i >= lo && page.length < limit; i--) {
    const e = events[i] as StoredEvent;
    if (page.length > 0 && bytes + e.message.length > MAX_RESPONSE_BYTES) break;
    bytes += e.message.length;
    page.push(e);
  }
  return page.reverse();
}

/** GetLogEvents tokens name a position in the stream: `f/<ts>/<seq>` = after it, `b/<ts>/<seq>` = before it. */
function streamToken(direction: 'f' | 'b', at: { timestamp: number; seq: number }): string {
  return `${direction}/${at.timestamp}/${at.seq}`;
}

function parseStreamToken(token: string): { direction: 'f' | 'b'; timestamp: number; seq: number } {
  const m = /^([fb])\/(-?\d{1,16})\/(-?\d{1,16})$/.exec(token);
  if (!m) throw new LogsApiError('InvalidParameterException', 'The specified nextToken is invalid.');
  return { direction: m[1] as 'f' | 'b', timestamp: Number(m[2]), seq: Number(m[3]) };
}
