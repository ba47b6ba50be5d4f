import type { SQSClient } from '@aws-sdk/client-sqs';
import { accountUpdatesMessages, type OrderUpdate } from '../domain/live-delivery';
import { sendFifoBatch, type FifoSendOutcome } from './fifo-batch';

/**
 * Sends order updates to the notifier's account-updates queue, packed per account (accountUpdatesMessages: up to ten
 * updates a message): group = the account, so one batch of an account is sequenced at a time; deduplication id from
 * the updates' keys (`orderId:status`), so a forward repeated within SQS's 5-minute window is one message (after it,
 * or packed otherwise, the delivery log's dedup rows give the updates their seqs again). Returns the updates the
 * queue still refused after sendFifoBatch's retries (index, reason, sender fault): every update of a refused message.
 */
export function accountUpdatesForwarder(sqs: SQSClient, queueUrl: string) {
  return async (updates: readonly OrderUpdate[]): Promise<FifoSendOutcome['failed']> => {
    if (updates.length === 0) return [];
    const messages = accountUpdatesMessages(updates);
    const { failed } = await sendFifoBatch(
      sqs,
      queueUrl,
      messages.map((m) => ({ body: m.body, groupId: m.account, deduplicationId: m.deduplicationId })),
    );
    return failed.flatMap((f) => messages[f.index]!.indexes.map((index) => ({ ...f, index })));
  };
}
