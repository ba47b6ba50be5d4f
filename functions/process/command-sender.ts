import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { CORRELATION_ID_ATTRIBUTE, type OrderCommand } from '../../shared/domain/command';

const SQS_BATCH_LIMIT = 10;
const MAX_ATTEMPTS = 4;

/**
 * Sends order commands to the commands FIFO queue: group = symbol (orders of one symbol stay in order),
 * deduplication id = orderId (a resend after a crash or a replayed batch is dropped by SQS within its
 * 5-minute window, and by execute's claim after it). SendMessageBatch can fail some entries only; those are
 * resent alone, and if any still fails the whole call throws so the ticks are redelivered.
 */
export async function sendCommands(
  sqs: SQSClient,
  queueUrl: string,
  commands: readonly OrderCommand[],
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
  for (let start = 0; start < commands.length; start += SQS_BATCH_LIMIT) {
    let pending: SendMessageBatchRequestEntry[] = commands.slice(start, start + SQS_BATCH_LIMIT).map((command, i) => ({
      Id: String(i),
      MessageBody: JSON.stringify(command),
      MessageGroupId: command.order.symbol,
      MessageDeduplicationId: command.order.orderId,
      MessageAttributes: { [CORRELATION_ID_ATTRIBUTE]: { DataType: 'String', StringValue: command.correlationId } },
    }));
    for (let attempt = 1; pending.length > 0; attempt++) {
      const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      const failed = new Set((result.Failed ?? []).map((f) => f.Id));
      if (failed.size === 0) break;
      if (attempt === MAX_ATTEMPTS) {
        const reasons = (result.Failed ?? []).map((f) => `${f.Code}: ${f.Message}`).join('; ');
        throw new Error(`commands not sent after ${MAX_ATTEMPTS} attempts: ${reasons}`);
      }
      pending = pending.filter((entry) => failed.has(entry.Id));
      await sleep(50 * 2 ** attempt);
    }
  }
}
