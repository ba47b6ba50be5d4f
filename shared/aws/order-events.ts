import type { SQSClient } from '@aws-sdk/client-sqs';
import { CORRELATION_ID_ATTRIBUTE } from '../domain/command';
import type { OrderEvent } from '../domain/event';
import { sendFifoBatch, type FifoSendOutcome } from './fifo-batch';

/**
 * The one way order events reach the event stream, for every publisher (execute's results, the orders function's
 * canceled orders): group = symbol, deduplication id = orderId — one event per order, whoever publishes it, so a
 * CANCELED event published by a cancel and the same order's CANCELED result published later by execute are one
 * message within the deduplication window (and byte-for-byte the same event after it: both publish the event that
 * stands in OrdersTable, order-records.ts). Returns what the queue refused after its retries.
 */
export function publishOrderEvents(
  sqs: SQSClient,
  queueUrl: string,
  events: readonly OrderEvent[],
): Promise<FifoSendOutcome> {
  return sendFifoBatch(
    sqs,
    queueUrl,
    events.map((event) => ({
      body: JSON.stringify(event),
      groupId: event.symbol,
      deduplicationId: event.orderId,
      attributes: { [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: event.correlationId } },
    })),
  );
}
