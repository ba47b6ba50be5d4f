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
  const failed = await trySendCommands(sqs, queueUrl, commands, sleep);
  if (failed.length > 0) {
    throw new Error(`commands not sent: ${failed.map((f) => `${f.command.order.orderId} ${f.reason}`).join('; ')}`);
  }
}

/**
 * sendCommands for a caller that sends the commands of several symbols at once (ten to a SendMessageBatch
 * whatever their group) and fails only the symbols whose commands were refused: returns those commands, with
 * the reason, instead of throwing. A call that fails as a whole still throws.
 */
export async function trySendCommands(
  sqs: SQSClient,
  queueUrl: string,
  commands: readonly OrderCommand[],
  sleep: (ms: number) => Promise<void> = defaultSleep,
): Promise<{ command: OrderCommand; reason: string }[]> {
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
  return failed.map((f) => ({ command: commands[f.index]!, reason: f.reason }));
}
