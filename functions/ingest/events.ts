import * as z from 'zod';
import { HttpEventSchema, type HttpEvent } from '../../shared/aws/http-event';

/**
 * The schedule's input. The EventBridge Scheduler target is configured with
 * `{"kind":"market-feed","scheduledTime":"<aws.scheduler.scheduled-time>"}`; the scheduled time seeds the walk,
 * so a retried invocation of the same schedule emits the same ticks (same tickIds).
 */
export const FeedTriggerSchema = z
  .object({
    kind: z.literal('market-feed'),
    scheduledTime: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type FeedTrigger = z.infer<typeof FeedTriggerSchema>;

export type IngestEvent = { type: 'http'; event: HttpEvent } | { type: 'feed'; trigger: FeedTrigger };

/** Tells the two triggers apart; anything else is refused with what was wrong with it. */
export function classifyIngestEvent(event: unknown): IngestEvent {
  const feed = FeedTriggerSchema.safeParse(event);
  if (feed.success) return { type: 'feed', trigger: feed.data };
  const http = HttpEventSchema.safeParse(event);
  if (http.success) return { type: 'http', event: http.data };
  throw new Error(
    `ingest got an event that is neither an HTTP API v2 request nor a market-feed trigger: ${http.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ')}`,
  );
}
