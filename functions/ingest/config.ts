import * as z from 'zod';
import { commaList, intFromEnv, loadConfig, nonEmptyString, powertoolsEnv } from '../../shared/config/env';
import { SymbolSchema } from '../../shared/domain/order';

export const ingestEnv = {
  ...powertoolsEnv,
  TICKS_STREAM_NAME: nonEmptyString,
  FEED_SYMBOLS: commaList(SymbolSchema),
  FEED_TICKS_PER_SECOND: intFromEnv(1, 10_000),
  FEED_SEED: nonEmptyString,
  /** How long one scheduled invocation feeds; by default the invocation's remaining time minus a margin. */
  FEED_DURATION_SECONDS: intFromEnv(1, 900).optional(),
};
export type IngestConfig = z.infer<z.ZodObject<typeof ingestEnv>>;

export function loadIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return loadConfig(ingestEnv, env);
}
