/** The Powertools variables every function's config requires, set the way INFRA sets them. */
export function powertoolsEnv(service: string): Record<string, string> {
  return {
    POWERTOOLS_SERVICE_NAME: service,
    POWERTOOLS_METRICS_NAMESPACE: 'TradingPipeline',
    LOG_LEVEL: 'SILENT',
  };
}
