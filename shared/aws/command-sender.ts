import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendFifoBatch } from './fifo-batch';
import { CORRELATION_ID_ATTRIBUTE, type OrderCommand } from '../domain/command';
import { sleep as defaultSleep } from '../util/wait';

/**
 * Sends order commands to the commands FIFO queue: group = symbol (orders of one symbol stay in order),
 * deduplication id = orderId (a resend after a crash or a replayed batch is dropped by SQS within its
 * 5-minute window, and by the ledger's own dedup after it). Entries SendMessageBatch refuses are resent alone;
 * if any still fails the whole call throws so the ticks are redelivered.
 */
export async function sendCommands(
  sqs: SQSClient,
  queueUrl: string,
  commands: readonly OrderCommand[],
  sleep: (ms: number) => Promise<void> = defaultSleep,
): Promise<void> {
  const { failed } = await sendFifoBatch(
    sqs,
    queueUrl,
    commands.map((command) => ({
      body: JSON.stringify(command),
      groupId: command.order.symbol,
      deduplicationId: command.order.orderId,
      attributes: { [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: command.correlationId } },
    })),
    { sleep },
  );
  if (failed.length > 0) {
    throw new Error(`commands not sent: ${failed.map((f) => `#${f.index} ${f.reason}`).join('; ')}`);
  }
}
