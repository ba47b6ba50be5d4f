import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { freePort } from '../local-cloud/emulators/child-service';
import { startSqs } from '../local-cloud/emulators/sqs';
import { SqsPollerClient } from '../local-cloud/runtime/sqs-poller-client';
import { createSqsClient, EMULATOR_CREDENTIALS } from '../shared/aws/clients';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';

/**
 * `npm run bench:sqs-poller`: the CPU one poll round (ReceiveMessage of ten messages, then DeleteMessageBatch of
 * them) costs the process that makes it, through @aws-sdk/client-sqs and through the runtime's own poller client
 * (local-cloud/runtime/sqs-poller-client.ts), against a fauxqs of its own. The queue is refilled between rounds
 * by a separate SDK client, whose CPU is not counted (its calls run between the measured ones, one at a time).
 * A script, not a test: it prints figures and asserts nothing.
 */
const command = defineCommand({
  name: 'npm run bench:sqs-poller',
  usage: `usage: npm run bench:sqs-poller [-- --rounds N]
Prints the CPU (user + system) and wall time per poll round of ten 300-byte messages, SDK vs poller client.
  --rounds N   measured rounds per client, after N/4 not measured (default 1000)`,
  options: { rounds: { type: 'string', default: '1000' } },
  schema: z.object({ rounds: z.coerce.number().int().min(10).max(100_000) }),
});

type Round = (queueUrl: string) => Promise<number>;

async function measure(rounds: number, queueUrl: string, fill: () => Promise<void>, round: Round) {
  let cpuUs = 0;
  let wallMs = 0;
  let received = 0;
  for (let i = 0; i < rounds + Math.floor(rounds / 4); i++) {
    await fill();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const n = await round(queueUrl);
    const c = process.cpuUsage(c0);
    if (i < rounds / 4) continue; // warm-up: let V8 optimize both paths alike
    cpuUs += c.user + c.system;
    wallMs += performance.now() - t0;
    received += n;
  }
  return { cpuMs: cpuUs / 1000 / rounds, wallMs: wallMs / rounds, perRound: received / rounds };
}

async function main({ argv }: CommandContext): Promise<void> {
  const { rounds } = command.parse(argv);
  const port = await freePort();
  const sqsService = await startSqs(port);
  const endpoint = `http://127.0.0.1:${port}`;
  const target = { endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS };
  const filler = createSqsClient(target);
  const sdk = createSqsClient(target);
  const poller = new SqsPollerClient(endpoint);
  try {
    const { QueueUrl = '' } = await filler.send(new CreateQueueCommand({ QueueName: 'bench-sqs-poller' }));
    const body = JSON.stringify({ orderId: 'o-0000000001', symbol: 'AAPL', pad: 'x'.repeat(240) });
    const fill = async () => {
      await filler.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({ Id: String(i), MessageBody: body })),
        }),
      );
    };
    const viaSdk: Round = async (queueUrl) => {
      const out = await sdk.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      const messages = out.Messages ?? [];
      if (messages.length > 0)
        await sdk.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      return messages.length;
    };
    const viaPoller: Round = async (queueUrl) => {
      const messages = await poller.receive(queueUrl, { maxMessages: 10, waitSeconds: 0, attributeNames: ['All'] });
      await poller.deleteBatch(queueUrl, messages);
      return messages.length;
    };
    for (const [name, round] of [
      ['@aws-sdk/client-sqs', viaSdk],
      ['runtime poller client', viaPoller],
      ['@aws-sdk/client-sqs', viaSdk],
      ['runtime poller client', viaPoller],
    ] as const) {
      const r = await measure(rounds, QueueUrl, fill, round);
      console.log(
        `${name.padEnd(22)} ${r.cpuMs.toFixed(3)} ms CPU, ${r.wallMs.toFixed(2)} ms wall per round ` +
          `(receive ${r.perRound.toFixed(1)} messages + delete them)`,
      );
    }
  } finally {
    filler.destroy();
    sdk.destroy();
    poller.destroy();
    await sqsService.stop();
  }
}

if (require.main === module) runCommand(command, main);
