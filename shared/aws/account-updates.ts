import type { SQSClient } from '@aws-sdk/client-sqs';
import { updateKey, type OrderUpdate } from '../domain/live-delivery';
import { sendFifoBatch, type FifoSendOutcome } from './fifo-batch';

/**
 * Sends order updates to the notifier's account-updates queue: group = the update's account, so one batch of an
 * account is sequenced at a time; deduplication id = the update's key (`orderId:status`), so a forward repeated
 * within SQS's 5-minute window is one message (after it, the delivery log's dedup row gives it its seq again).
 * Returns the updates the queue still refused after sendFifoBatch's retries (index, reason, sender fault).
 */
export function accountUpdatesForwarder(sqs: SQSClient, queueUrl: string) {
  return async (updates: readonly OrderUpdate[]): Promise<FifoSendOutcome['failed']> => {
    if (updates.length === 0) return [];
    const { failed } = await sendFifoBatch(
      sqs,
      queueUrl,
      updates.map((update) => ({
        body: JSON.stringify(update),
        groupId: update.account,
        deduplicationId: updateKey(update),
      })),
    );
    return failed;
  };
}
