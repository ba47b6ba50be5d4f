import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 as Response, Context } from 'aws-lambda';
import type * as z from 'zod';
import { describePrincipal, isAdmin, principalFromEvent } from '../../shared/auth/principal';
import { HttpEventSchema, type HttpEvent } from '../../shared/aws/http-event';
import { failureResponse, json, jsonBody } from '../../shared/aws/http-response';
import { describeZodError } from '../../shared/domain/order';
import { fieldErrors } from '../../shared/domain/user-order';
import type { NodeStatus, RiskLimits } from '../../shared/ledger-contract';
import {
  HaltBodySchema as HaltSchema,
  LimitsBodySchema as LimitsSchema,
  ResumeBodySchema as ResumeSchema,
  type ClusterResponse,
  type HaltState,
} from '../../shared/api/schemas';
import type { QueueReport } from '../../shared/aws/queues';
import type { LedgerAdminClient, LedgerClient } from '../../shared/raft-client/types';

export interface AdminDeps {
  members: string[];
  ledger: () => Promise<LedgerClient & LedgerAdminClient>;
  /** The pipeline's queue depths and dead letters (shared/aws/queues.ts watchedQueueReport). */
  queues: () => Promise<QueueReport[]>;
  logger: Logger;
}

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

/** `POST /admin/halt` and `POST /operator/halt` are the same operation: the path's last two segments name it. */
const OPERATION = /\/(?:admin|operator)\/(halt|resume|limits|cluster)$/;

/**
 * The operator routes (docs/api.md): halt, resume, limits, cluster — on `/admin/*` (IAM-authorized) and on
 * `/operator/*` (the user pool's JWT). The function checks isAdmin on both, so a trader's token that reaches it
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
    return json(200, state satisfies HaltState);
  }

  async function resume(event: HttpEvent, who: string): Promise<Response> {
    const body = bodyOf(event, ResumeSchema);
    if ('refusal' in body) return body.refusal;
    const state = await (await deps.ledger()).resume();
    logger.info('audit: trading resumed', { who, reason: body.value.reason ?? null });
    return json(200, state satisfies HaltState);
  }

  async function setLimits(event: HttpEvent, who: string): Promise<Response> {
    const body = bodyOf(event, LimitsSchema);
    if ('refusal' in body) return body.refusal;
    const { reason, ...patch } = body.value;
    const limits = await (await deps.ledger()).setLimits(patch);
    logger.info('audit: risk limits changed', { who, reason: reason ?? null, patch, limits });
    return json(200, limits satisfies RiskLimits);
  }

  /** Each member's own view (role, term, indexes), its lag behind the leader's commit index, and the queues. */
  async function cluster(): Promise<Response> {
    const [ledger, queues] = await Promise.all([deps.ledger(), deps.queues()]);
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
    const members = views.map((v): ClusterResponse['members'][number] => {
      if (!('status' in v)) return { url: v.url, healthy: false as const, error: v.error };
      const { nodeId, role, term, commitIndex, appliedIndex, lastLogIndex, halted } = v.status;
      const lag = leaderStatus ? Math.max(0, leaderStatus.commitIndex - appliedIndex) : null;
      return {
        url: v.url,
        nodeId,
        role,
        term,
        commitIndex,
        appliedIndex,
        lastLogIndex,
        halted,
        lag,
        healthy: true as const,
      };
    });
    const body: ClusterResponse = {
      leader: leaderStatus?.nodeId ?? null,
      term: leaderStatus?.term ?? null,
      commitIndex: leaderStatus?.commitIndex ?? null,
      halted: leaderStatus?.halted ?? null,
      haltReason: leaderStatus?.haltReason ?? null,
      members,
      queues,
    };
    return json(leaderStatus ? 200 : 503, body);
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
      const route = `${method} ${OPERATION.exec(path)?.[1] ?? ''}`;
      if (route === 'POST halt') return await halt(event, who);
      if (route === 'POST resume') return await resume(event, who);
      if (route === 'PUT limits') return await setLimits(event, who);
      if (route === 'GET cluster') return await cluster();
      return json(404, { message: `no route for ${method} ${path}` });
    } catch (error) {
      return failureResponse(error, logger, { method, path });
    }
  }).use(injectLambdaContext(logger, { resetKeys: true, correlationIdPath: 'requestContext.requestId' }));
}
