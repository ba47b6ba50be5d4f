import { createHash } from 'node:crypto';
import { byGroup, chunksBy } from './chunks';

/**
 * Several items of one FIFO message group in one SQS message: `{"<field>": [item, …]}`. Execute's commands and the
 * notifier's account updates are sent this way — a FIFO receive brings at most ten messages of a group, so one item
 * per message capped a group at ten items per round trip, and every item was a message to send, receive and delete
 * (docs/performance.md, sessions 28 and 29).
 */
export interface PackedMessage {
  /** The message group all its items share. */
  group: string;
  body: string;
  /**
   * The item's own key for a message of one (as when every item was a message of its own), else a digest of the
   * items' keys: a resend of the same items within SQS's 5-minute window is one message. Anything sent twice in
   * another packing is caught by the consumer's own dedup, as any redelivery is.
   */
  deduplicationId: string;
  /** Indexes into the items given to packMessages, in the message's order. */
  indexes: number[];
}

export interface PackingRule<T> {
  /** The body's one field, the array of items. */
  field: string;
  groupOf: (item: T) => string;
  keyOf: (item: T) => string;
  maxCount: number;
  /** Bytes of items' JSON in one message at most (ten messages of a SendMessageBatch share SQS's 256 KiB). */
  maxBytes: number;
}

/** Packs items into messages: each group's in their order, up to the rule's count and bytes to a message. */
export function packMessages<T>(items: readonly T[], rule: PackingRule<T>): PackedMessage[] {
  const json = items.map((item) => JSON.stringify(item));
  const size = (i: number) => Buffer.byteLength(json[i]!) + 1;
  const indexes = items.map((_, i) => i);
  return [...byGroup(indexes, (i) => rule.groupOf(items[i]!))].flatMap(([group, ofGroup]) =>
    chunksBy(ofGroup, rule.maxCount, rule.maxBytes, size).map((run) => {
      const keys = run.map((i) => rule.keyOf(items[i]!));
      return {
        group,
        body: `{${JSON.stringify(rule.field)}:[${run.map((i) => json[i]).join(',')}]}`,
        deduplicationId: keys.length === 1 ? keys[0]! : createHash('sha256').update(keys.join('\n')).digest('hex'),
        indexes: run,
      };
    }),
  );
}

/**
 * A message body's JSON: `{ packed: [...] }` for a packed message (its field an array), `{ one: value }` for any other
 * JSON (the format before packing, one item unwrapped — so what was queued across an upgrade is still read), or
 * why the body is not JSON. Validating the items is the caller's.
 */
export function unpack(body: string, field: string): { packed: unknown[] } | { one: unknown } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    return { error: `body is not JSON: ${(error as Error).message}` };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && field in value) {
    const items = (value as Record<string, unknown>)[field];
    const extra = Object.keys(value).filter((k) => k !== field);
    if (!Array.isArray(items)) return { error: `${field}: expected an array` };
    if (extra.length > 0) return { error: `unknown field(s) beside ${field}: ${extra.join(', ')}` };
    return { packed: items };
  }
  return { one: value };
}
