import { queueDepth } from '../shared/aws/queues';
import { sleep } from '../shared/util/wait';
import type { EmbeddedStack } from './stack';

/** How often the queues are read while draining, and how many empty reads in a row make the pipeline quiet. */
const POLL_MS = 250;
const QUIET_READS = 2;
const PROGRESS_EVERY_MS = 2000;

/** The queues something here consumes: every SQS event source mapping's, and the events queue (its recorder). */
function consumedQueues(stack: EmbeddedStack): { name: string; url: string }[] {
  const urls = [
    ...stack.deployment.sqsMappings.map((m) => m.spec.queueUrl),
    ...(stack.info.outputs.EventsQueueUrl ? [stack.info.outputs.EventsQueueUrl] : []),
  ];
  return [...new Set(urls)].map((url) => ({ name: url.slice(url.lastIndexOf('/') + 1), url }));
}

/**
 * Before a stop: fauxqs keeps SQS in memory, so a message still queued when the local cloud stops — an order the
 * trading API accepted, a command, an event on its way to live delivery — would be gone at the next start, an
 * acknowledged order left PENDING forever. So the feed stops, the stream mappings stop (ticks not read yet stay in
 * the stream, on disk, with the checkpoints), and the stop waits until every queue something here consumes is empty
 * (visible and in flight, read twice in a row, as a batch in flight may be about to send to the next queue).
 * Bounded: after `timeoutMs` it returns what is left, by queue, for the caller to say it is lost; a message held by
 * a failing function waits out its visibility timeout and usually is. Empty when everything was processed.
 */
export async function drainQueues(
  stack: EmbeddedStack,
  opts: { timeoutMs: number; log: (line: string) => void },
): Promise<Record<string, number>> {
  await stack.runtime.stopSchedules();
  await stack.runtime.stopStreamMappings();
  const queues = consumedQueues(stack);
  const deadline = Date.now() + opts.timeoutMs;
  let quiet = 0;
  let lastProgress = 0;
  for (;;) {
    const depths = await Promise.all(queues.map((q) => queueDepth(stack.sqs, q.url)));
    const left = Object.fromEntries(queues.flatMap((q, i) => (depths[i]! > 0 ? [[q.name, depths[i]!]] : [])));
    quiet = Object.keys(left).length === 0 ? quiet + 1 : 0;
    if (quiet >= QUIET_READS) return {};
    if (Date.now() >= deadline) return left;
    if (quiet === 0 && Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      opts.log(`processing what is queued before stopping (SQS is kept in memory here): ${describeQueued(left)}`);
      lastProgress = Date.now();
    }
    await sleep(POLL_MS);
  }
}

/** "12 in PipelineStack-CommandsQueue.fifo, 3 in …" */
export function describeQueued(left: Record<string, number>): string {
  return Object.entries(left)
    .map(([name, n]) => `${n} in ${name}`)
    .join(', ');
}
