import * as z from 'zod';

/**
 * A time bound in a query string (GET /orders, GET /ticks, GET /candles): epoch milliseconds or an ISO 8601
 * date-time, as epoch milliseconds. One schema, so every read route takes the same forms.
 */
export const TimeBoundSchema = z.string().transform((raw, ctx) => {
  const ms = /^\d{1,13}$/.test(raw) ? Number(raw) : /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    ctx.addIssue({ code: 'custom', message: 'must be epoch milliseconds or an ISO 8601 date-time' });
    return z.NEVER;
  }
  return ms;
});
