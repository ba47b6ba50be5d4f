import type { APIGatewayProxyStructuredResultV2, Handler } from 'aws-lambda';
import { createKinesisClient } from '../../../shared/aws/clients';
import { powertoolsEnv } from './support/env';
import { fakeContext, httpEvent } from '../../support/lambda-events';
import { createStream, deleteStream, readAllRecords, uniqueName } from './support/resources';

/**
 * The deployed entry points (functions/<name>/handler.ts): config read and clients built at module load, as on a
 * cold start. Each import runs in a fresh module registry with the env the function would get.
 */
async function coldStart(name: string, env: Record<string, string>): Promise<Handler> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    let handler: Handler | undefined;
    await jest.isolateModulesAsync(async () => {
      handler = (await import(`../../../functions/${name}/handler`)).handler as Handler;
    });
    return handler as Handler;
  } finally {
    for (const key of Object.keys(env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

jest.setTimeout(90_000);

const raft = { RAFT_MEMBERS: 'http://127.0.0.1:9', RAFT_AUTH_SECRET: 'secret' };
const envs: Record<string, Record<string, string>> = {
  ingest: {
    ...powertoolsEnv('ingest'),
    TICKS_STREAM_NAME: 'ticks',
    FEED_SYMBOLS: 'AAA',
    FEED_TICKS_PER_SECOND: '5',
    FEED_SEED: 'seed',
  },
  process: {
    ...powertoolsEnv('process'),
    STRATEGY_TABLE_NAME: 'state',
    COMMANDS_QUEUE_URL: 'http://localhost:1/000000000000/commands.fifo',
    FAILURE_QUEUE_URL: 'http://localhost:1/000000000000/process-failures',
    STRATEGY_FAST_WINDOW: '5',
    STRATEGY_SLOW_WINDOW: '20',
    STRATEGY_ORDER_QUANTITY: '10',
    TRADING_ACCOUNT: 'acct-1',
  },
  execute: {
    ...powertoolsEnv('execute'),
    ...raft,
    ORDERS_TABLE_NAME: 'orders',
    ORDER_HISTORY_RETENTION_DAYS: '90',
    EVENTS_TOPIC_ARN: 'arn:aws:sns:us-east-1:000000000000:events.fifo',
    COMMANDS_DLQ_URL: 'http://localhost:1/000000000000/commands-dlq.fifo',
    ACCOUNT_UPDATES_QUEUE_URL: 'http://localhost:1/000000000000/account-updates.fifo',
  },
  api: { ...powertoolsEnv('api'), ...raft, ORDERS_TABLE_NAME: 'orders' },
};

describe('function entry points', () => {
  it.each(Object.keys(envs))('%s starts with its env and fails at init naming a missing variable', async (name) => {
    const env = envs[name]!;
    expect(typeof (await coldStart(name, env))).toBe('function');
    for (const variable of Object.keys(env).filter((k) => k !== 'LOG_LEVEL' && k !== 'RAFT_AUTH_SECRET')) {
      const { [variable]: _omit, ...missing } = env;
      await expect(coldStart(name, missing)).rejects.toThrow(new RegExp(`${variable} is not set`));
    }
  });

  it('the deployed ingest entry point writes to the stream named in its env', async () => {
    const kinesis = createKinesisClient();
    const streamName = uniqueName('entry-ticks');
    await createStream(kinesis, streamName, 1);
    try {
      const handler = await coldStart('ingest', { ...envs.ingest!, TICKS_STREAM_NAME: streamName });
      const tick = { symbol: 'AAA', price: 1.5, size: 2, ts: Date.now() };
      const res = (await handler(
        httpEvent('POST', '/ticks', { body: JSON.stringify(tick) }),
        fakeContext('ingest'),
        () => undefined,
      )) as APIGatewayProxyStructuredResultV2;
      expect(res.statusCode).toBe(202);
      expect(await readAllRecords(kinesis, streamName)).toHaveLength(1);
    } finally {
      await deleteStream(kinesis, streamName);
    }
  });
});
