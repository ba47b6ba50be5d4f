import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { HttpEventSchema } from '../../shared/aws/http-event';
import type { MarketDataReader } from '../../shared/aws/market-data-store';
import { principalFromEvent, PrincipalError, type Principal } from '../../shared/auth/principal';
import type { CandlesResponse, TicksResponse } from '../../shared/api/schemas';
import { publicCandle } from '../../shared/domain/candle';
import { describeZodError } from '../../shared/domain/order';
import { encodeCursor, parseCandlesQuery, parseTicksQuery, type Parsed } from '../../shared/domain/market-query';

export interface MarketDataApiDeps {
  store: Pick<MarketDataReader, 'queryTicks' | 'queryCandles'>;
  logger: Logger;
  now?: () => number;
}

type Result = APIGatewayProxyStructuredResultV2;
type RawQuery = Record<string, string | undefined> | undefined;
const json = (statusCode: number, body: unknown): Result => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Market data is public to every signed-in role (admin, trader, viewer) and to IAM callers; not to a roleless user. */
const mayReadMarketData = (p: Principal): boolean => p.kind === 'iam' || p.roles.length > 0;

/**
 * GET /ticks and GET /candles over the market-data tables (docs/api.md). Thin: the query string is validated by
 * shared/domain/market-query.ts, the reads are MarketDataStore's; this only routes, authorizes and shapes.
 */
export function createMarketDataApiHandler(deps: MarketDataApiDeps) {
  const { store, logger } = deps;
  const now = deps.now ?? Date.now;

  /** One page of a route: validate, read, answer with the query's own fields, the items and the next cursor. */
  async function page<Q extends { symbol: string; from: number; to: number; interval?: string }, Item, After>(
    parsed: Parsed<Q>,
    read: (q: Q) => Promise<{ items: Item[]; last?: After }>,
    answer: (q: Q, items: Item[]) => Record<string, unknown>,
  ): Promise<Result> {
    if (!parsed.ok) return json(400, { message: 'invalid query', errors: parsed.errors });
    const q = parsed.query;
    const { items, last } = await read(q);
    const nextCursor = last === undefined ? null : encodeCursor(q, last as string | number);
    return json(200, { ...answer(q, items), nextCursor });
  }

  const getTicks = (query: RawQuery) =>
    page(
      parseTicksQuery(query),
      (q) => store.queryTicks({ ...q, now: now() }),
      (q, ticks): Omit<TicksResponse, 'nextCursor'> => ({ symbol: q.symbol, from: q.from, to: q.to, ticks }),
    );

  const getCandles = (query: RawQuery) =>
    page(
      parseCandlesQuery(query),
      (q) => store.queryCandles({ ...q, now: now() }),
      (q, candles): Omit<CandlesResponse, 'nextCursor'> => ({
        symbol: q.symbol,
        interval: q.interval,
        from: q.from,
        to: q.to,
        candles: candles.map(publicCandle),
      }),
    );

  return middy(async (event: unknown, _context: Context): Promise<Result> => {
    const parsed = HttpEventSchema.safeParse(event);
    if (!parsed.success)
      throw new Error(`market-data-api expects an HTTP API v2 event: ${describeZodError(parsed.error)}`);
    const { method, path } = parsed.data.requestContext.http;
    try {
      const principal = principalFromEvent(event);
      if (!mayReadMarketData(principal)) {
        return json(403, { message: 'market data is for the admin, trader and viewer roles; this user has none' });
      }
      const query = parsed.data.queryStringParameters;
      if (method === 'GET' && path.endsWith('/ticks')) return await getTicks(query);
      if (method === 'GET' && path.endsWith('/candles')) return await getCandles(query);
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      if (error instanceof PrincipalError) return json(403, { message: error.message });
      logger.error('request failed', { method, path, error: error as Error });
      return json(500, { message: 'internal error' });
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
