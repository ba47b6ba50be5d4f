/**
 * Collects the EMF documents Powertools Metrics prints to stdout, so a test can read the metrics a handler
 * published exactly as CloudWatch would.
 */
export interface EmfCapture {
  /** Sum of a metric's values over every document printed since the capture started. */
  total(name: string): number;
  values(name: string): number[];
  stop(): void;
}

export function captureEmf(): EmfCapture {
  const documents: Record<string, unknown>[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line.includes('"_aws"')) continue;
      try {
        documents.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial line; EMF documents are printed whole
      }
    }
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  const values = (name: string) =>
    documents.flatMap((doc) => {
      const v = doc[name];
      return typeof v === 'number' ? [v] : Array.isArray(v) ? (v as number[]) : [];
    });
  return {
    values,
    total: (name) => values(name).reduce((a, b) => a + b, 0),
    stop: () => {
      process.stdout.write = original;
    },
  };
}
