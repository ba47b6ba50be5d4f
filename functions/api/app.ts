import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { OrderRecords } from '../../shared/aws/order-records';
import { AccountSchema, describeZodError, OrderIdSchema } from '../../shared/domain/order';
import { LedgerClientError } from '../../shared/raft-client/client';
import type { LedgerClient } from '../../shared/raft-client/types';
import { HttpEventSchema } from '../../shared/aws/http-event';
import { json } from '../../shared/aws/http-response';

export interface ApiDeps {
  members: string[];
  ledger: () => Promise<LedgerClient>;
  records: Pick<OrderRecords, 'read'>;
  logger: Logger;
}

/**
 * GET /orders/{orderId}: the ledger's record of the order (a linearizable read through the leader) and the
 * execution record execute wrote for it (with the event it published).
 * GET /positions[?account=]: positions from the ledger. GET /health: each ledger member's view of the cluster.
 */
export function createApiHandler(deps: ApiDeps) {
  const { logger } = deps;

  async function getOrder(rawId: string): Promise<APIGatewayProxyStructuredResultV2> {
    const orderId = OrderIdSchema.safeParse(rawId);
    if (!orderId.success) return json(400, { message: `orderId: ${describeZodError(orderId.error)}` });
    const [order, execution] = await Promise.all([
      (await deps.ledger()).getOrder(orderId.data),
      deps.records.read(orderId.data),
    ]);
    if (!order && !execution) return json(404, { message: `no order ${orderId.data}` });
    return json(200, { order: order ?? null, execution: execution ?? null });
  }

  async function getPositions(account: string | undefined): Promise<APIGatewayProxyStructuredResultV2> {
    if (account !== undefined) {
      const parsed = AccountSchema.safeParse(account);
      if (!parsed.success) return json(400, { message: `account: ${describeZodError(parsed.error)}` });
    }
    return json(200, { positions: await (await deps.ledger()).positions(account) });
  }

  async function getHealth(): Promise<APIGatewayProxyStructuredResultV2> {
    const ledger = await deps.ledger();
    const members = await Promise.all(
      deps.members.map(async (url) => {
        try {
          const s = await ledger.status(url);
          return {
            url,
            nodeId: s.nodeId,
            role: s.role,
            term: s.term,
            leaderId: s.leaderId,
            commitIndex: s.commitIndex,
          };
        } catch (error) {
          return { url, error: (error as Error).message };
        }
      }),
    );
    const leaders = new Set(members.flatMap((m) => ('leaderId' in m && m.leaderId ? [m.leaderId] : [])));
    const reachable = members.filter((m) => 'role' in m).length;
    const healthy = leaders.size === 1 && reachable > deps.members.length / 2;
    return json(healthy ? 200 : 503, { status: healthy ? 'ok' : 'degraded', leader: [...leaders][0] ?? null, members });
  }

  return middy(async (event: unknown, _context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
    const parsed = HttpEventSchema.safeParse(event);
    if (!parsed.success) throw new Error(`api expects an HTTP API v2 event: ${describeZodError(parsed.error)}`);
    const { method, path } = parsed.data.requestContext.http;
    try {
      if (method === 'GET') {
        const order = /\/orders\/([^/]+)$/.exec(path);
        if (order) return await getOrder(parsed.data.pathParameters?.orderId ?? decodeURIComponent(order[1] as string));
        if (path.endsWith('/positions')) return await getPositions(parsed.data.queryStringParameters?.account);
        if (path.endsWith('/health')) return await getHealth();
      }
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      // The ledger refused or could not be reached: say so, as a gateway error, without internals.
      logger.error('request failed', { method, path, error: error as Error });
      if (error instanceof LedgerClientError)
        return json(error.status === undefined ? 503 : 502, { message: error.message });
      return json(500, { message: 'internal error' });
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
