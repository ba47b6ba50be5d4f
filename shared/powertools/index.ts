import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** Metric names, in one place so the functions, the dashboard and the tests agree. */
export const MetricName = {
  TicksIngested: 'TicksIngested',
  TicksRejected: 'TicksRejected',
  TicksNotLanded: 'TicksNotLanded',
  PutRecordsRetries: 'PutRecordsRetries',
  TicksProcessed: 'TicksProcessed',
  TicksSkippedAsApplied: 'TicksSkippedAsApplied',
  DuplicateTicksSkipped: 'DuplicateTicksSkipped',
  OutboxResent: 'OutboxResent',
  PoisonRecords: 'PoisonRecords',
  TicksStored: 'TicksStored',
  TicksAlreadyStored: 'TicksAlreadyStored',
  TicksNotStored: 'TicksNotStored',
  OrdersGenerated: 'OrdersGenerated',
  OrdersAccepted: 'OrdersAccepted',
  OrdersRejected: 'OrdersRejected',
  DuplicatesCaught: 'DuplicatesCaught',
  PoisonCommands: 'PoisonCommands',
  TickToExecutionLatency: 'TickToExecutionLatency',
} as const;

export { MetricUnit };

/** The Powertools part of every function's validated config (see shared/config/env.ts). */
export interface PowertoolsConfig {
  POWERTOOLS_SERVICE_NAME: string;
  POWERTOOLS_METRICS_NAMESPACE: string;
  LOG_LEVEL: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'CRITICAL' | 'SILENT';
}

/** Built from the validated config rather than from process.env, so the config module stays the one env reader. */
export function createLogger(config: PowertoolsConfig): Logger {
  return new Logger({ serviceName: config.POWERTOOLS_SERVICE_NAME, logLevel: config.LOG_LEVEL });
}

export function createMetrics(config: PowertoolsConfig): Metrics {
  return new Metrics({ namespace: config.POWERTOOLS_METRICS_NAMESPACE, serviceName: config.POWERTOOLS_SERVICE_NAME });
}
