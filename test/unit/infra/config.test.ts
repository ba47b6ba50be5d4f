import { App } from 'aws-cdk-lib';
import { composeRaftMembers, InfraConfigError, loadInfraConfig } from '../../../infra/config';
import { embeddedContext } from '../../../local-cloud/stack';

const configFor = (context: Record<string, unknown>) => loadInfraConfig(new App({ context }).node);

describe('infra context (loadInfraConfig)', () => {
  // The localstack target falls back to RAFT_AUTH_SECRET from the shell; keep a developer's out of these tests.
  const shellSecret = process.env.RAFT_AUTH_SECRET;
  beforeAll(() => delete process.env.RAFT_AUTH_SECRET);
  afterAll(() => {
    if (shellSecret !== undefined) process.env.RAFT_AUTH_SECRET = shellSecret;
  });

  it('defaults to AWS with the Raft cluster deployed, data retained', () => {
    const config = configFor({});
    expect(config).toMatchObject({
      target: 'aws',
      deployRaftCluster: true,
      retainData: true,
      shardCount: 1,
      kinesisBatchSize: 500,
      kinesisBatchingWindowSeconds: 0,
      kinesisEnhancedFanOut: true,
      fifoHighThroughput: true,
      sqsBatchSize: 10,
      maxReceiveCount: 5,
      logRetentionDays: 14,
      raftNamespace: 'raft.internal',
    });
    expect(config.raftMembers).toBeUndefined();
  });

  it('on localstack runs without the cluster, pointing at the compose nodes, and retains nothing', () => {
    expect(configFor({ target: 'localstack', raftAuthSecret: 'a-long-enough-secret' })).toMatchObject({
      deployRaftCluster: false,
      retainData: false,
      raftMembers: composeRaftMembers(8080),
    });
  });

  it('reads through enhanced fan-out by default on aws and the embedded cloud, polls on LocalStack unless asked', () => {
    const localstack = { target: 'localstack', raftAuthSecret: 'a-long-enough-secret' };
    expect(configFor(localstack)).toMatchObject({ kinesisEnhancedFanOut: false });
    expect(configFor({ ...localstack, kinesisEnhancedFanOut: 'true' })).toMatchObject({ kinesisEnhancedFanOut: true });
    expect(configFor({ kinesisEnhancedFanOut: 'false' })).toMatchObject({ kinesisEnhancedFanOut: false });
    expect(embeddedContext()).toMatchObject({ target: 'localstack', kinesisEnhancedFanOut: 'true' });
    expect(embeddedContext({ kinesisEnhancedFanOut: 'false' })).toMatchObject({ kinesisEnhancedFanOut: 'false' });
  });

  it('coerces CLI strings (numbers, booleans, comma lists)', () => {
    const config = configFor({
      shardCount: '4',
      feedEnabled: 'false',
      deployRaftCluster: 'false',
      raftMembers: 'http://a:1, http://b:2',
      raftAuthSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:raft',
    });
    expect(config).toMatchObject({
      shardCount: 4,
      feedEnabled: false,
      deployRaftCluster: false,
      raftMembers: ['http://a:1', 'http://b:2'],
    });
  });

  it.each([
    [{ target: 'gcp' }, 'context "target"'],
    [{ shardCount: 'many' }, 'context "shardCount"'],
    [{ shardCount: '0' }, 'context "shardCount"'],
    [{ logRetentionDays: '10' }, 'context "logRetentionDays": one of'],
    [{ sqsBatchSize: '11' }, 'context "sqsBatchSize"'],
    [{ feedEnabled: 'yes' }, 'context "feedEnabled"'],
    [{ account: '123' }, 'context "account"'],
    [{ raftNodeCpu: '300' }, 'context "raftNodeCpu"'],
    [{ strategyFastWindow: '20', strategySlowWindow: '10' }, '"strategyFastWindow" must be smaller'],
    [{ deployRaftCluster: 'false' }, '"raftMembers" is required on target aws'],
    [{ deployRaftCluster: 'false', raftMembers: 'http://x:1' }, '"raftAuthSecretArn" is required on target aws'],
    [{ target: 'localstack' }, '"raftAuthSecret" (or RAFT_AUTH_SECRET in the environment'],
    [{ strategySlowWindow: '5000' }, 'context "strategySlowWindow"'],
    [{ kinesisBatchingWindowSeconds: '0.05' }, 'context "kinesisBatchingWindowSeconds"'],
    [{ fifoHighThroughput: 'on' }, 'context "fifoHighThroughput"'],
    [{ raftSecretRotation: 'root' }, 'context "raftSecretRotation"'],
    [{ raftClientKeysRevision: 'two words' }, 'context "raftClientKeysRevision"'],
    [
      { deployRaftCluster: 'false', raftMembers: 'http://x:1', raftAuthSecret: 'a-long-enough-secret' },
      '"raftAuthSecret" (plaintext) is refused on target aws',
    ],
    [{ raftClusterId: 'my.cluster' }, 'context "raftClusterId"'],
    [
      { streamRetentionHours: '240', ticksRetentionDays: '7' },
      '"ticksRetentionDays" must cover "streamRetentionHours"',
    ],
    [{ candles1hRetentionDays: '0' }, 'context "candles1hRetentionDays"'],
    [{ permissionsBoundary: 'not a name!' }, 'context "permissionsBoundary"'],
    [{ raftMembers: 'http://x:1' }, 'with "deployRaftCluster" the members and secret come from RaftClusterStack'],
    [
      { target: 'localstack', raftAuthSecret: 'a-long-enough-secret', raftAuthSecretArn: 'arn:aws:secretsmanager:x' },
      'not both',
    ],
  ])('rejects %j naming what is wrong', (context, message) => {
    expect(() => configFor(context)).toThrow(InfraConfigError);
    expect(() => configFor(context)).toThrow(message);
  });

  it('on localstack takes the compose RAFT_AUTH_SECRET from the environment when context has none', () => {
    process.env.RAFT_AUTH_SECRET = 'secret-from-the-shell-0123';
    try {
      expect(configFor({ target: 'localstack' }).raftAuthSecret).toBe('secret-from-the-shell-0123');
      expect(configFor({ target: 'localstack', raftAuthSecret: 'secret-from-context-0123' }).raftAuthSecret).toBe(
        'secret-from-context-0123',
      );
      // Never on AWS: there the functions read the Secrets Manager secret.
      expect(configFor({ target: 'aws' }).raftAuthSecret).toBeUndefined();
    } finally {
      delete process.env.RAFT_AUTH_SECRET;
    }
  });
});
