import fc from 'fast-check';
import { LogsApi } from '../../../local-cloud/logs-emulator/api';
import { LogStore } from '../../../local-cloud/logs-emulator/store';

/**
 * Pagination properties of the logs API, driven in-process (the same handler the HTTP server calls)
 * so fast-check can try many event layouts quickly.
 */
const ctx = { region: 'us-east-1', accountId: '000000000000' };
const NOW = 1_800_000_000_000;

type Page = { events: { message: string }[]; nextForwardToken: string; nextBackwardToken: string };
type FilterPage = { events: { message: string; logStreamName: string; eventId: string }[]; nextToken?: string };

/** Streams of events as (stream index, timestamp offset) pairs; batches are put in timestamp order per stream. */
const layout = fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 50 })), {
  minLength: 0,
  maxLength: 40,
});

function setUp(events: [number, number][]): { api: LogsApi; expected: Map<number, string[]>; all: string[] } {
  const api = new LogsApi(LogStore.open(undefined, () => NOW));
  api.handle('CreateLogGroup', { logGroupName: '/p' }, ctx);
  for (const s of [0, 1, 2]) api.handle('CreateLogStream', { logGroupName: '/p', logStreamName: `s${s}` }, ctx);
  const expected = new Map<number, string[]>([
    [0, []],
    [1, []],
    [2, []],
  ]);
  const timeline: { ts: number; order: number; message: string }[] = [];
  events.forEach(([stream, offset], i) => {
    const message = `e${i}`;
    // One event per PutLogEvents, so the put order breaks timestamp ties as the store's sequence does.
    api.handle(
      'PutLogEvents',
      { logGroupName: '/p', logStreamName: `s${stream}`, logEvents: [{ timestamp: NOW - 1000 + offset, message }] },
      ctx,
    );
    timeline.push({ ts: offset, order: i, message });
  });
  const sorted = [...timeline].sort((a, b) => a.ts - b.ts || a.order - b.order);
  for (const e of sorted) expected.get(Number(events[e.order]?.[0]))?.push(e.message);
  return { api, expected, all: sorted.map((e) => e.message) };
}

describe('GetLogEvents tokens', () => {
  it('forward paging from the head returns each event once, in order, and ends on a repeated token', () => {
    fc.assert(
      fc.property(layout, fc.integer({ min: 1, max: 7 }), (events, limit) => {
        const { api, expected } = setUp(events);
        const seen: string[] = [];
        let token: string | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const page = api.handle(
            'GetLogEvents',
            {
              logGroupName: '/p',
              logStreamName: 's0',
              startFromHead: true,
              limit,
              ...(token ? { nextToken: token } : {}),
            },
            ctx,
          ) as Page;
          seen.push(...page.events.map((e) => e.message));
          if (page.nextForwardToken === token) break;
          token = page.nextForwardToken;
        }
        expect(seen).toEqual(expected.get(0));
      }),
    );
  });

  it('backward paging from the tail returns each event once and, reassembled, the same order', () => {
    fc.assert(
      fc.property(layout, fc.integer({ min: 1, max: 7 }), (events, limit) => {
        const { api, expected } = setUp(events);
        const pages: string[][] = [];
        let token: string | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const page = api.handle(
            'GetLogEvents',
            { logGroupName: '/p', logStreamName: 's1', limit, ...(token ? { nextToken: token } : {}) },
            ctx,
          ) as Page;
          if (page.events.length === 0) break;
          pages.unshift(page.events.map((e) => e.message));
          token = page.nextBackwardToken;
        }
        expect(pages.flat()).toEqual(expected.get(1));
      }),
    );
  });
});

describe('FilterLogEvents tokens', () => {
  it('paging through the group with any limit yields every event once, interleaved by time', () => {
    fc.assert(
      fc.property(layout, fc.integer({ min: 1, max: 7 }), (events, limit) => {
        const { api, all } = setUp(events);
        const seen: string[] = [];
        let token: string | undefined;
        for (let guard = 0; guard < 100; guard++) {
          const page = api.handle(
            'FilterLogEvents',
            { logGroupName: '/p', limit, ...(token ? { nextToken: token } : {}) },
            ctx,
          ) as FilterPage;
          seen.push(...page.events.map((e) => e.message));
          if (!page.nextToken) break;
          token = page.nextToken;
        }
        expect(seen).toEqual(all);
      }),
    );
  });
});
