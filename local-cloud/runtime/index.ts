import type { PolledMessage } from './sqs-poller-client';
import type { Deployment } from '../deploy/deploy';
import type { WriteSignal } from '../emulators/write-signal';
import { CheckpointStore } from './checkpoint-store';
import { LambdaFunction } from './function-pool';
import { KinesisEventSourceMapping } from './kinesis-mapping';
import type { LogSink } from './log-sink';
import { RateSchedule } from './scheduler';
import { SqsEventSourceMapping, type SqsMappingStats } from './sqs-mapping';

export { LambdaFunction } from './function-pool';
export { CloudWatchLogSink, MemoryLogSink, type LogSink } from './log-sink';

export interface LocalRuntimeOptions {
  /**
   * Region, credentials and endpoint variables every function gets (its own environment comes from the template).
   * The mappings poll the endpoints its AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL_SQS name, when it names them.
   */
  baseEnv: Record<string, string>;
  logs: LogSink;
  /** Where the Kinesis mappings keep their checkpoints; in memory when absent. */
  checkpointFile?: string;
  /** Delay between polls of an empty shard. */
  kinesisPollIntervalMs?: number;
  /** The Kinesis emulator's signal that records landed: fan-out mappings read on it instead of polling. */
  kinesisWrites?: WriteSignal;
  /** Leave the schedules off (the bench and tests drive the functions themselves). */
  schedules?: boolean;
  onError?: (message: string) => void;
  /** Sees every batch an SQS mapping receives, before its invocation. */
  onSqsReceive?: (queueUrl: string, messages: PolledMessage[]) => void;
}

export interface LocalRuntime {
  /** By the template's logical id. */
  functions: Record<string, LambdaFunction>;
  /** ReceiveMessage counts of each SQS mapping so far, by the template's logical id. */
  sqsMappingStats(): Record<string, SqsMappingStats>;
  /**
   * Pauses or resumes an SQS event source mapping, by the template's logical id — what `Enabled: false` on
   * AWS::Lambda::EventSourceMapping (or `aws lambda update-event-source-mapping --no-enabled`) does on AWS:
   * pausing lets the batches in flight finish and stops receiving; the queue keeps every message meanwhile.
   */
  setSqsMappingEnabled(logicalId: string, enabled: boolean): Promise<void>;
  /** Stops the schedules and ends the runs they started (the market feed), leaving the rest running. */
  stopSchedules(): Promise<void>;
  /**
   * Stops reading the streams, leaving the rest running: the batches in flight finish and keep their checkpoints;
   * records not read yet stay in the stream (kinesalite keeps it on disk) for the next start.
   */
  stopStreamMappings(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs a deployment: a worker pool per function, a poller per event source mapping, a timer per schedule. */
export async function startLocalRuntime(deployment: Deployment, opts: LocalRuntimeOptions): Promise<LocalRuntime> {
  const onError = opts.onError ?? ((m: string) => process.stderr.write(`[runtime] ${m}\n`));
  const region = opts.baseEnv.AWS_REGION;
  const functions: Record<string, LambdaFunction> = {};
  for (const [id, spec] of Object.entries(deployment.functions)) {
    functions[id] = new LambdaFunction(spec, { baseEnv: opts.baseEnv, logs: opts.logs, ...(region ? { region } : {}) });
  }
  const fnFor = (id: string) => {
    const fn = functions[id];
    if (!fn) throw new Error(`no function ${id} in the deployment`);
    return fn;
  };
  const checkpoints = new CheckpointStore(opts.checkpointFile);
  const endpoints = {
    ...(opts.baseEnv.AWS_ENDPOINT_URL_KINESIS ? { kinesis: opts.baseEnv.AWS_ENDPOINT_URL_KINESIS } : {}),
    ...(opts.baseEnv.AWS_ENDPOINT_URL_SQS ? { sqs: opts.baseEnv.AWS_ENDPOINT_URL_SQS } : {}),
  };
  const kinesis = deployment.kinesisMappings.map(
    (m) =>
      new KinesisEventSourceMapping(m.spec, fnFor(m.functionLogicalId), checkpoints, {
        onError,
        endpoints,
        ...(opts.kinesisPollIntervalMs !== undefined ? { pollIntervalMs: opts.kinesisPollIntervalMs } : {}),
        ...(opts.kinesisWrites ? { recordsWritten: opts.kinesisWrites } : {}),
      }),
  );
  const onSqsReceive = opts.onSqsReceive;
  const sqsMapping = (m: Deployment['sqsMappings'][number]) =>
    new SqsEventSourceMapping(m.spec, fnFor(m.functionLogicalId), {
      onError,
      endpoints,
      ...(onSqsReceive ? { onReceive: (messages: PolledMessage[]) => onSqsReceive(m.spec.queueUrl, messages) } : {}),
    });
  const sqs = deployment.sqsMappings.map(sqsMapping);
  const paused = new Set<string>();
  const setSqsMappingEnabled = async (logicalId: string, enabled: boolean) => {
    const index = deployment.sqsMappings.findIndex((m) => m.logicalId === logicalId);
    if (index < 0) throw new Error(`no SQS event source mapping ${logicalId} in the deployment`);
    if (enabled === !paused.has(logicalId)) return;
    if (enabled) {
      paused.delete(logicalId);
      sqs[index] = sqsMapping(deployment.sqsMappings[index]!);
      sqs[index].start();
    } else {
      paused.add(logicalId);
      await sqs[index]!.stop();
    }
  };
  const schedules =
    opts.schedules === false
      ? []
      : deployment.schedules
          .filter((s) => s.enabled)
          .map(
            (s) =>
              new RateSchedule(
                `arn:aws:scheduler:${region ?? 'us-east-1'}:000000000000:schedule/default/${s.logicalId}`,
                s.expression,
                s.input,
                fnFor(s.functionLogicalId),
                onError,
              ),
          );
  // Not awaited: the deployment is complete once its functions and mappings exist, as on AWS, and starting twelve
  // workers took ~4 s of a PipelineStack creation (docs/performance.md). An invocation that comes before its
  // function's worker is ready waits for that worker instead of starting another.
  for (const f of Object.values(functions)) void f.prewarm();
  for (const m of kinesis) await m.start();
  for (const m of sqs) m.start();
  for (const s of schedules) s.start();
  const scheduledFunctions = [...new Set(deployment.schedules.map((s) => s.functionLogicalId))].map(fnFor);
  let schedulesStopped: Promise<void> | undefined;
  const stopSchedules = () =>
    (schedulesStopped ??= (async () => {
      const stopping = Promise.all(schedules.map((s) => s.stop()));
      await Promise.all(scheduledFunctions.map((f) => f.killBusyWorkers()));
      await stopping;
    })());
  let streamsStopped: Promise<void> | undefined;
  const stopStreamMappings = () => (streamsStopped ??= Promise.all(kinesis.map((m) => m.stop())).then(() => undefined));
  return {
    functions,
    sqsMappingStats: () => Object.fromEntries(sqs.map((m) => [m.spec.id, m.stats()])),
    setSqsMappingEnabled,
    stopSchedules,
    stopStreamMappings,
    stop: async () => {
      await stopSchedules();
      await Promise.all([
        ...schedules.map((s) => s.stop()),
        stopStreamMappings(),
        ...sqs.filter((m) => !paused.has(m.spec.id)).map((m) => m.stop()),
      ]);
      checkpoints.close();
      await Promise.all(Object.values(functions).map((f) => f.stop()));
      await opts.logs.flush();
    },
  };
}
