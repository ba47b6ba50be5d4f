import * as z from 'zod';
import { ORDER_RECORD_MIN_DAYS } from '../domain/order-history';

/**
 * Reads a function's environment once (at cold start) and validates it with zod. A missing or bad variable
 * throws with the variable's name, so the init fails loudly instead of the first invocation failing oddly.
 */
export function loadConfig<Shape extends z.ZodRawShape>(
  shape: Shape,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<Shape>> {
  const parsed = z.object(shape).safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      // A variable holding JSON fails deeper in (WATCHED_QUEUES.0.url): "not set" only when the variable is.
      return env[String(issue.path[0])] === undefined ? `${name} is not set` : `${name}: ${issue.message}`;
    });
    throw new Error(`Invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

export const nonEmptyString = z.string().trim().min(1, 'must not be empty');

/** An integer given as a decimal string, within bounds. */
export function intFromEnv(min: number, max: number) {
  return z
    .string()
    .regex(/^-?\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
}

/** A comma-separated list of non-empty items, each validated by `item`. */
export function commaList<T extends z.ZodType<unknown, string>>(item: T) {
  return z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0),
    )
    .pipe(z.array(item).min(1, 'must list at least one item'));
}

export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** Queue URLs are checked loosely: emulators answer with hosts like sqs.us-east-1.127.0.0.1 that zod's url() refuses. */
export const queueUrl = z.string().regex(/^https?:\/\/[^\s/]+\/\S+$/, 'must be an http(s) queue URL');

/** An SQS queue ARN (the embedded cloud's account is 000000000000, still twelve digits). */
export const queueArn = z.string().regex(/^arn:aws[\w-]*:sqs:[\w-]+:\d{12}:[\w.-]{1,80}$/, 'must be an SQS queue ARN');

/** An SNS topic ARN (a FIFO topic's name ends in .fifo; that is the caller's schema to add). */
export const topicArn = z.string().regex(/^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w.-]{1,256}$/, 'must be an SNS topic ARN');

/**
 * For the functions that write execution records (execute; orders and ws-connection for a cancel's record), which
 * are the order history too: how long an order stays in it (TTL from its creation), infra's
 * orderHistoryRetentionDays — at least the 14 days a record must outlive its command's redeliveries.
 */
export const orderRecordsWriterEnv = {
  ORDER_HISTORY_RETENTION_DAYS: intFromEnv(ORDER_RECORD_MIN_DAYS, 3650),
};

/** Shared by every function: Powertools reads these itself; we validate them so a typo fails at init. */
export const powertoolsEnv = {
  POWERTOOLS_SERVICE_NAME: nonEmptyString,
  POWERTOOLS_METRICS_NAMESPACE: nonEmptyString,
  LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT']).default('INFO'),
};
