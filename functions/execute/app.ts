import { SqsFifoPartialProcessorAsync, processPartialResponse } from '@aws-lambda-powertools/batch';
import { makeIdempotent, type IdempotencyConfig } from '@aws-lambda-powertools/idempotency';
import type { BasePersistenceLayer } from '@aws-lambda-powertools/idempotency/persistence';
import type { ResponseHook } from '@aws-lambda-powertools/idempotency/types';
import type { JSONObject } from '@aws-lambda-powertools/commons/types';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { ORDER_CLAIM_KEY_PREFIX } from '../../shared/aws/order-claims';
import { CORRELATION_ID_ATTRIBUTE, OrderCommandSchema, type OrderCommand } from '../../shared/domain/command';
import { OrderEventSchema, type OrderEvent } from '../../shared/domain/event';
import { describeZodError } from '../../shared/domain/order';
import type { LedgerClient } from '../../shared/raft-client/types';
import { MetricName, MetricUnit } from '../../shared/powertools';
import type { ExecuteConfig } from './config';

export interface ExecuteDeps {
  config: Pick<ExecuteConfig, 'EVENTS_QUEUE_URL'>;
  ledger: () => Promise<LedgerClient>;
  claims: BasePersistenceLayer;
  claimConfig: (responseHook: ResponseHook) => IdempotencyConfig;
  sqs: SQSClient;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

/** A command execute cannot read; it fails (and its group's rest in the batch), and the DLQ takes it. */
export class PoisonCommandError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'PoisonCommandError';
  }
}

function parseCommandBody(body: string): { success: true; data: OrderCommand } | { success: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return { success: false, reason: `body is not JSON: ${(error as Error).message}` };
  }
  const parsed = OrderCommandSchema.safeParse(json);
  return parsed.success ? parsed : { success: false, reason: describeZodError(parsed.error) };
}

/** What the claim stores as its result: the order event, exactly as it is (re)published. */
interface Execution {
  event: OrderEvent;
  /** Set on the way out of a completed claim (Powertools' response hook): this delivery is a duplicate. */
  replayed?: true;
}

/**
 * SQS FIFO batch of order commands → for each: claim → apply on the ledger → record → publish.
 *
 * Why each step is safe to retry, and why a crash between any two ends in one ledger entry and one event:
 * - claim (Powertools idempotency, conditional PutItem on the order id): only one delivery at a time gets past
 *   it. A failing attempt deletes its claim; one that dies leaves it IN_PROGRESS with an expiry of that
 *   attempt's remaining time, after which a redelivery may take it over — never blocked forever.
 * - apply: the ledger dedups by orderId, so an attempt that re-applies after a crash between apply and record
 *   gets the original outcome back (`duplicate: true`, same seq) and no second entry is made.
 * - record (Powertools' conditional update to COMPLETED with the event as result): from then on every
 *   delivery returns the stored event without touching the ledger.
 * - publish: MessageDeduplicationId = orderId, so a republish (after a crash between record and publish, or
 *   between publish and the message's deletion) is dropped by the events FIFO queue.
 */
export function createExecuteHandler(deps: ExecuteDeps) {
  const { config, logger, metrics } = deps;
  const now = deps.now ?? Date.now;
  const claimConfig = deps.claimConfig((response) => ({ ...(response as JSONObject), replayed: true }));

  async function applyOnLedger(command: OrderCommand): Promise<Execution> {
    const result = await (await deps.ledger()).applyOrder(command.order);
    if (result.duplicate) {
      logger.warn('ledger already had this order (an earlier attempt died after applying it)', {
        orderId: result.orderId,
        correlationId: command.correlationId,
      });
    }
    const event: OrderEvent = OrderEventSchema.parse({
      orderId: result.orderId,
      status: result.status,
      seq: result.seq ?? null,
      reason: result.reason ?? null,
      symbol: result.symbol,
      side: result.side,
      quantity: result.quantity,
      price: result.price,
      position: result.position,
      tickTs: command.tickTs,
      commandTs: command.commandTs,
      executedTs: now(),
      correlationId: command.correlationId,
    });
    return { event };
  }

  // A fixed key prefix (not the function name, Powertools' default) so a renamed or redeployed function, and the
  // api function, find the same claims.
  const executeOnce = makeIdempotent(applyOnLedger, {
    persistenceStore: deps.claims,
    config: claimConfig,
    keyPrefix: ORDER_CLAIM_KEY_PREFIX,
  });

  async function publish(event: OrderEvent): Promise<void> {
    await deps.sqs.send(
      new SendMessageCommand({
        QueueUrl: config.EVENTS_QUEUE_URL,
        // The stored event comes back from DynamoDB with its keys in another order; parsing puts them in the
        // schema's order, so a republish (e.g. after the FIFO dedup window) is byte-identical to the first.
        MessageBody: JSON.stringify(OrderEventSchema.parse(event)),
        MessageGroupId: event.symbol,
        MessageDeduplicationId: event.orderId,
        MessageAttributes: { [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: event.correlationId } },
      }),
    );
  }

  async function handleRecord(record: SQSRecord): Promise<void> {
    const parsed = parseCommandBody(record.body);
    if (!parsed.success) {
      const { reason } = parsed;
      metrics.addMetric(MetricName.PoisonCommands, MetricUnit.Count, 1);
      logger.error('poison command', { messageId: record.messageId, reason });
      throw new PoisonCommandError(`message ${record.messageId}: ${reason}`);
    }
    const command = parsed.data;
    // The correlation id goes on each line, not on the logger: records of other groups are logged meanwhile.
    const { correlationId } = command;
    const execution = (await executeOnce(command)) as Execution;
    await publish(execution.event);
    const { event } = execution;
    if (execution.replayed) {
      metrics.addMetric(MetricName.DuplicatesCaught, MetricUnit.Count, 1);
      logger.info('duplicate command: republished the stored event', { orderId: event.orderId, correlationId });
      return;
    }
    metrics.addMetric(
      event.status === 'ACCEPTED' ? MetricName.OrdersAccepted : MetricName.OrdersRejected,
      MetricUnit.Count,
      1,
    );
    metrics.addMetric(MetricName.TickToExecutionLatency, MetricUnit.Milliseconds, event.executedTs - event.tickTs);
    logger.info('order executed', {
      orderId: event.orderId,
      correlationId,
      status: event.status,
      seq: event.seq,
      reason: event.reason,
    });
  }

  return middy(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    // A claim taken in this invocation expires when the invocation would time out.
    claimConfig.registerLambdaContext(context);
    // Message groups (symbols) are independent, so they run concurrently; within a group, Powertools' FIFO
    // processor keeps the records in order and skips the rest of the group after a failure. (Its own loop runs
    // the whole batch one record after another, which made a batch of n groups take n ledger round trips.)
    const groups = new Map<string, SQSRecord[]>();
    for (const record of event.Records) {
      const group = record.attributes.MessageGroupId ?? '';
      groups.set(group, [...(groups.get(group) ?? []), record]);
    }
    const responses = await Promise.all(
      [...groups.values()].map((records) =>
        processPartialResponse({ Records: records }, handleRecord, new SqsFifoPartialProcessorAsync(), {
          context,
          skipGroupOnError: true,
          throwOnFullBatchFailure: false,
        }),
      ),
    );
    // Reported in the batch's order, as one processor over the whole batch would.
    const position = new Map(event.Records.map((record, index) => [record.messageId, index]));
    const failures = responses.flatMap((r) => r.batchItemFailures);
    failures.sort((a, b) => (position.get(a.itemIdentifier) ?? 0) - (position.get(b.itemIdentifier) ?? 0));
    return { batchItemFailures: failures };
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
