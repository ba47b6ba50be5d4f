import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 as Response, Context } from 'aws-lambda';
import * as z from 'zod';
import { describePrincipal, isAdmin, principalFromEvent } from '../../shared/auth/principal';
import { HttpEventSchema, type HttpEvent } from '../../shared/aws/http-event';
import { failureResponse, json, jsonBody } from '../../shared/aws/http-response';
import { describeZodError } from '../../shared/domain/order';
import { fieldErrors } from '../../shared/domain/user-order';
import { RiskLimitsPatchSchema, RiskLimitsUpdateSchema, type NodeStatus } from '../../shared/ledger-contract';
import type { LedgerAdminClient, LedgerClient } from '../../shared/raft-client/types';

export interface AdminDeps {
  members: string[];
  ledger: () => Promise<LedgerClient & LedgerAdminClient>;
  logger: Logger;
}

const reasonField = z.string().trim().min(1, 'must not be empty').max(500, 'must be at most 500 characters');
const HaltSchema = z.object({ reason: reasonField }).strict();
const ResumeSchema = z.object({ reason: reasonField.optional() }).strict();
/** The ledger's risk-limits patch (shared/ledger-contract), plus why; at least one limit. */
const LimitsSchema = RiskLimitsPatchSchema.extend({ reason: reasonField.optional() })
  .strict()
  .refine(({ reason: _reason, ...limits }) => RiskLimitsUpdateSchema.safeParse(limits).success, {
    message: 'give at least one of maxOrderQuantity, maxOrderNotional, maxAbsPosition, minPrice, minOrderNotional',
  });

/** The body, validated; a 400 naming every bad field otherwise. */
function bodyOf<T>(event: HttpEvent, schema: z.ZodType<T>): { value: T } | { refusal: Response } {
  const body = jsonBody(event);
  if (!body.ok)
    return { refusal: json(400, { message: 'invalid body', errors: [{ field: '(body)', message: 'is not JSON' }] }) };
  const parsed = schema.safeParse(body.value);
  return parsed.success
    ? { value: parsed.data }
    : { refusal: json(400, { message: 'invalid body', errors: fieldErrors(parsed.error) }) };
}

/**
 * The operator routes (docs/api.md): POST /admin/halt, POST /admin/resume, PUT /admin/limits, GET /admin/cluster.
 * The routes are IAM-authorized and the function checks isAdmin too, so a user token (a trader's) that reaches it
 * is refused with 403. Every change is audited: one log line naming who (describePrincipal) and why (reason).
 */
// Over ~80 lines on purpose: a factory closure over its dependencies (one small function per route).
export function createAdminHandler(deps: AdminDeps) {
  const { logger } = deps;

  async function halt(event: HttpEvent, who: string): Promise<Response> {
    const body = bodyOf(event, HaltSchema);
    if ('refusal' in body) return body.refusal;
    const state = await (await deps.ledger()).halt(body.value.reason);
    logger.info('audit: trading halted', { who, reason: body.value.reason });
    return json(200, state);
  }

  async function resume(event: HttpEvent, who: string): Promise<Response> {
    const body = bodyOf(event, ResumeSchema);
    if ('refusal' in body) return body.refusal;
    const state = await (await deps.ledger()).resume();
    logger.info('audit: trading resumed', { who, reason: body.value.reason ?? null });
    return json(200, state);
  }

  async function setLimits(event: HttpEvent, who: string): Promise<Response> {
    const body = bodyOf(event, LimitsSchema);
    if ('refusal' in body) return body.refusal;
    const { reason, ...patch } = body.value;
    const limits = await (await deps.ledger()).setLimits(patch);
    logger.info('audit: risk limits changed', { who, reason: reason ?? null, patch, limits });
    return json(200, limits);
  }

  /** Each member's own view (role, term, indexes), and its lag behind the leader's commit index. */
  async function cluster(): Promise<Response> {
    const ledger = await deps.ledger();
    type View = { url: string; status: NodeStatus } | { url: string; error: string };
    const views = await Promise.all(
      deps.members.map(async (url): Promise<View> => {
        try {
          return { url, status: await ledger.status(url) };
        } catch (error) {
          return { url, error: (error as Error).message };
        }
      }),
    );
    const leader = views.find((v) => 'status' in v && v.status.role === 'leader');
    const leaderStatus = leader && 'status' in leader ? leader.status : undefined;
    const members = views.map((v) => {
      if (!('status' in v)) return { url: v.url, healthy: false, error: v.error };
      const { nodeId, role, term, commitIndex, appliedIndex, lastLogIndex, halted } = v.status;
      const lag = leaderStatus ? Math.max(0, leaderStatus.commitIndex - appliedIndex) : null;
      return { url: v.url, nodeId, role, term, commitIndex, appliedIndex, lastLogIndex, halted, lag, healthy: true };
    });
    return json(leaderStatus ? 200 : 503, {
      leader: leaderStatus?.nodeId ?? null,
      term: leaderStatus?.term ?? null,
      commitIndex: leaderStatus?.commitIndex ?? null,
      halted: leaderStatus?.halted ?? null,
      haltReason: leaderStatus?.haltReason ?? null,
      members,
    });
  }

  return middy(async (raw: unknown, _context: Context): Promise<Response> => {
    const parsed = HttpEventSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`admin expects an HTTP API v2 event: ${describeZodError(parsed.error)}`);
    const event = parsed.data;
    const { method, path } = event.requestContext.http;
    try {
      const principal = principalFromEvent(raw);
      if (!isAdmin(principal)) {
        return json(403, { message: `operator routes need the admin role; ${describePrincipal(principal)} has not` });
      }
      const who = describePrincipal(principal);
      if (method === 'POST' && path.endsWith('/admin/halt')) return await halt(event, who);
      if (method === 'POST' && path.endsWith('/admin/resume')) return await resume(event, who);
      if (method === 'PUT' && path.endsWith('/admin/limits')) return await setLimits(event, who);
      if (method === 'GET' && path.endsWith('/admin/cluster')) return await cluster();
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      return failureResponse(error, logger, { method, path });
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
