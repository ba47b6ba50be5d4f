import {
  DEFAULT_LIMIT,
  encodeCursor,
  MAX_LIMIT,
  parseCandlesQuery,
  parseTicksQuery,
} from '../../../shared/domain/market-query';

const T0 = 1_767_225_600_000;
const HOUR = 3_600_000;
const ticks = (q: Record<string, string>) =>
  parseTicksQuery({ symbol: 'ACME', from: `${T0}`, to: `${T0 + HOUR}`, ...q });
const candles = (q: Record<string, string>) =>
  parseCandlesQuery({ symbol: 'ACME', interval: '1m', from: `${T0}`, to: `${T0 + HOUR}`, ...q });
const errorsOf = (parsed: ReturnType<typeof parseTicksQuery> | ReturnType<typeof parseCandlesQuery>) =>
  parsed.ok ? [] : parsed.errors;

describe('GET /ticks and GET /candles query validation', () => {
  it('accepts epoch-ms ranges, normalises the symbol and defaults the limit', () => {
    expect(ticks({ symbol: ' acme ' })).toEqual({
      ok: true,
      query: { symbol: 'ACME', from: T0, to: T0 + HOUR, limit: DEFAULT_LIMIT },
    });
    expect(candles({ interval: '1h', limit: '5' })).toEqual({
      ok: true,
      query: { symbol: 'ACME', interval: '1h', from: T0, to: T0 + HOUR, limit: 5 },
    });
  });

  it('names each missing or malformed field', () => {
    expect(errorsOf(parseTicksQuery(undefined)).map((e) => [e.field, e.message])).toEqual([
      ['symbol', 'is required'],
      ['from', 'is required'],
      ['to', 'is required'],
    ]);
    expect(errorsOf(ticks({ from: 'yesterday', limit: '0' })).map((e) => e.field)).toEqual(['from', 'limit']);
    expect(errorsOf(ticks({ from: 'yesterday' }))[0]?.message).toBe(
      'must be epoch milliseconds or an ISO 8601 date-time',
    );
    // Epoch seconds are a unit mistake, not a time in 1970.
    expect(errorsOf(ticks({ from: '1767225600' }))[0]?.message).toMatch(/milliseconds after 2000/);
    expect(errorsOf(ticks({ limit: String(MAX_LIMIT + 1) }))[0]).toEqual({
      field: 'limit',
      message: `must be at most ${MAX_LIMIT}`,
    });
    expect(errorsOf(candles({ interval: '15m' }))[0]).toEqual({
      field: 'interval',
      message: 'must be one of 1m, 5m, 1h',
    });
    expect(errorsOf(candles({ interval: '' }))[0]?.field).toBe('interval');
    expect(errorsOf(ticks({ symbol: 'NOT VALID' }))[0]?.field).toBe('symbol');
  });

  it('takes ISO 8601 date-times as well as epoch milliseconds, as GET /orders does', () => {
    expect(ticks({ from: '2026-01-01T00:00:00Z', to: '2026-01-01T01:00:00.000+00:00' })).toEqual({
      ok: true,
      query: { symbol: 'ACME', from: T0, to: T0 + HOUR, limit: DEFAULT_LIMIT },
    });
  });

  it('refuses unknown parameters rather than ignoring them', () => {
    expect(errorsOf(ticks({ interval: '1m' }))).toEqual([
      { field: 'interval', message: 'is not a parameter of this route' },
    ]);
  });

  it('refuses an empty or inverted range, and one wider than the route allows', () => {
    expect(errorsOf(ticks({ to: `${T0}` }))).toEqual([{ field: 'to', message: 'must be after from' }]);
    expect(errorsOf(ticks({ to: `${T0 - 1}` }))[0]?.message).toBe('must be after from');
    expect(errorsOf(ticks({ to: `${T0 + 25 * HOUR}` }))[0]?.message).toMatch(/at most 24 hours for ticks/);
    expect(candles({ interval: '1h', to: `${T0 + 300 * 24 * HOUR}` }).ok).toBe(true);
    expect(errorsOf(candles({ interval: '1m', to: `${T0 + 8 * 24 * HOUR}` }))[0]?.message).toMatch(/1m candles/);
  });

  it('continues from a cursor it issued for the same query, and refuses any other', () => {
    const q = { symbol: 'ACME', from: T0, to: T0 + HOUR };
    const after = `${T0 + 5}#t-1`;
    expect(ticks({ cursor: encodeCursor(q, after) })).toMatchObject({ ok: true, query: { after } });
    expect(candles({ cursor: encodeCursor({ ...q, interval: '1m' }, T0 + 60_000) })).toMatchObject({
      ok: true,
      query: { after: T0 + 60_000 },
    });
    const refusal = (cursor: string, parse: typeof ticks | typeof candles = ticks) => errorsOf(parse({ cursor }))[0];
    expect(refusal('not-a-cursor')).toEqual({ field: 'cursor', message: 'is not a cursor this API issued' });
    expect(refusal(encodeCursor({ ...q, symbol: 'OTHER' }, after))?.message).toMatch(/another query/);
    expect(refusal(encodeCursor({ ...q, interval: '1m' }, T0))?.message).toMatch(/another query/);
    // Bound to the query but pointing outside its range (forged): refused before it reaches DynamoDB.
    expect(refusal(encodeCursor(q, `${T0 + 2 * HOUR}#x`))?.message).toMatch(/within from..to/);
    expect(refusal(encodeCursor({ ...q, interval: '1m' }, T0 - 60_000), candles)?.message).toMatch(/within/);
  });
});
