import { join } from 'node:path';
import { freePort, type ChildService } from './child-service';
import { startDynamoDb, type DynamoDbFlavour } from './dynamodb';
import { startKinesis } from './kinesis';
import { startSqs } from './sqs';

export interface Emulators {
  kinesis: ChildService;
  dynamodb: ChildService;
  sqs: ChildService;
  /** The standard per-service endpoint variables the AWS SDK v3 reads (AWS_ENDPOINT_URL_<SERVICE>). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface StartEmulatorsOptions {
  /** Persist emulator data under this folder; in memory when absent. */
  dataDir?: string;
  ports?: Partial<Record<'kinesis' | 'dynamodb' | 'sqs', number>>;
  /** DynamoDB Local or dynalite; chosen by chooseDynamoDbFlavour when absent. */
  dynamodb?: DynamoDbFlavour;
}

/** Starts kinesalite, DynamoDB Local (or dynalite) and fauxqs as child processes on loopback. */
export async function startEmulators(opts: StartEmulatorsOptions = {}): Promise<Emulators> {
  const [kPort, dPort, sPort] = await Promise.all([
    opts.ports?.kinesis ?? freePort(),
    opts.ports?.dynamodb ?? freePort(),
    opts.ports?.sqs ?? freePort(),
  ]);
  const started = await Promise.allSettled([
    startKinesis(kPort, opts.dataDir && join(opts.dataDir, 'kinesis')),
    startDynamoDb(dPort, opts.dataDir && join(opts.dataDir, 'dynamodb'), opts.dynamodb),
    startSqs(sPort),
  ]);
  const ok = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  if (failed.length > 0) {
    await Promise.all(ok.map((s) => s.stop()));
    throw new Error(`emulators failed to start:\n${failed.join('\n')}`);
  }
  const [kinesis, dynamodb, sqs] = ok as [ChildService, ChildService, ChildService];
  return {
    kinesis,
    dynamodb,
    sqs,
    env: {
      AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      // fauxqs serves SNS on its SQS port.
      AWS_ENDPOINT_URL_SNS: sqs.endpoint,
    },
    stop: async () => {
      await Promise.all([kinesis.stop(), dynamodb.stop(), sqs.stop()]);
    },
  };
}
