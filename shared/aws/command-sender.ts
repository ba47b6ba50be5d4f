import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendFifoBatch } from './fifo-batch';
import { commandMessages, CORRELATION_ID_ATTRIBUTE, type OrderCommand } from '../domain/command';
import { sleep as defaultSleep } from '../util/wait';

/**
 * Sends order commands to the commands FIFO queue, packed per symbol (commandMessages: up to 50 to a message):
 * group = symbol (orders of one symbol stay in order), deduplication id = the orderId for a message of one, a
 * digest of the order ids for more (a resend after a crash or a replayed batch is dropped by SQS within its 5-minute
 * window, and by the ledger's own dedup after it or when packed otherwise). Entries SendMessageBatch refuses are resent
 * alone; if any still fails the whole call throws so the ticks are redelivered.
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
 * sendCommands for a caller that sends the commands of several symbols at once (ten messages to a SendMessageBatch
 * whatever their group) and fails only the symbols whose commands were refused: returns those commands (every
 * command of a refused message), with the reason, instead of throwing. A call that fails as a whole still throws.
 * The correlation id attribute is set on a message of one command; a packed message's are in its body only.
 */
export async function trySendCommands(
  sqs: SQSClient,
  queueUrl: string,
  commands: readonly OrderCommand[],
  sleep: (ms: number) => Promise<void> = defaultSleep,
): Promise<{ command: OrderCommand; reason: string }[]> {
  const messages = commandMessages(commands);
  const correlation = (indexes: number[]) =>
    indexes.length === 1
      ? {
          attributes: {
            [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: commands[indexes[0]!]!.correlationId },
          },
        }
      : {};
  const { failed } = await sendFifoBatch(
    sqs,
    queueUrl,
    messages.map((m) => ({
      body: m.body,
      groupId: m.group,
      deduplicationId: m.deduplicationId,
      ...correlation(m.indexes),
    })),
    { sleep },
  );
  return failed.flatMap((f) => messages[f.index]!.indexes.map((i) => ({ command: commands[i]!, reason: f.reason })));
}
