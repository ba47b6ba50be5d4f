import type { SNSClient } from '@aws-sdk/client-sns';
import { CORRELATION_ID_ATTRIBUTE } from '../domain/command';
import type { OrderEvent } from '../domain/event';
import { LIVE_FORWARDED_ATTRIBUTE } from '../domain/live-delivery';
import { publishFifoBatch, type FifoSendOutcome } from './fifo-batch';

/**
 * The one way order events reach the order-events topic (SNS FIFO, fanned out to its subscriptions), for every
 * publisher (execute's results, the orders function's canceled orders): group = symbol, deduplication id = orderId —
 * one event per order, whoever publishes it, so a CANCELED event published by a cancel and the same order's
 * CANCELED result published later by execute are one message within the deduplication window (and byte-for-byte the
 * same event after it: both publish the event that stands in OrdersTable, order-records.ts). `liveForwarded`:
 * it sent their order updates to the live-delivery account-updates queue already, so the notifier's subscription
 * leaves them out. Returns what the topic refused after its retries.
 */
export function publishOrderEvents(
  sns: SNSClient,
  topicArn: string,
  events: readonly OrderEvent[],
  { liveForwarded = false }: { liveForwarded?: boolean } = {},
): Promise<FifoSendOutcome> {
  return publishFifoBatch(
    sns,
    topicArn,
    events.map((event) => ({
      body: JSON.stringify(event),
      groupId: event.symbol,
      deduplicationId: event.orderId,
      attributes: {
        [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: event.correlationId },
        ...(liveForwarded ? { [LIVE_FORWARDED_ATTRIBUTE]: { DataType: 'String', StringValue: 'true' } } : {}),
      },
    })),
  );
}
