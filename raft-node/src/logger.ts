import { Logger } from '@aws-lambda-powertools/logger';

/**
 * Structured JSON logs, one object per line on stdout. Powertools Logger works outside Lambda too, and
 * using it keeps the node's log lines in the same shape as the pipeline functions' lines (level,
 * message, timestamp, service, plus our keys), so one query reads both in CloudWatch Logs.
 */
export type NodeLogger = Logger;

export function createLogger(nodeId: string, level: 'debug' | 'info' | 'warn' | 'error'): NodeLogger {
  const logger = new Logger({ serviceName: 'raft-node', logLevel: level.toUpperCase() as 'INFO' });
  logger.appendKeys({ nodeId });
  return logger;
}
