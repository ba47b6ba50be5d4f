import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { ConfigError, parseChaosProfile, parseConfig } from '../../../../raft-node/src/config';

const base = { RAFT_NODE_ID: 'n1', RAFT_PEERS: 'http://127.0.0.1:8082' };

describe('raft-node configuration', () => {
  test('defaults follow issue 2', () => {
    const cfg = parseConfig(base);
    expect(cfg).toMatchObject({
      nodeId: 'n1',
      bindHost: '127.0.0.1',
      bindPort: 7000,
      advertiseAddr: '127.0.0.1:7000',
      dataDir: './.data/raft/n1',
      initialClusterState: 'existing',
      peers: ['http://127.0.0.1:8082'],
      httpPort: 8080,
      httpAdvertiseUrl: 'http://127.0.0.1:8080',
      logLevel: 'info',
      chaos: { enabled: false, dropPct: 0, delayMinMs: 0, delayMaxMs: 0, exitOnLeader: false },
    });
    expect(cfg.authSecret).toBeUndefined();
  });

  test.each([
    [{}, 'RAFT_NODE_ID'],
    [{ RAFT_BIND_ADDR: 'nope' }, 'RAFT_BIND_ADDR'],
    [{ PORT_HTTP: '70000' }, 'PORT_HTTP'],
    [{ PORT_HTTP: 'abc' }, 'PORT_HTTP'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ RAFT_BOOTSTRAP: 'maybe' }, 'RAFT_BOOTSTRAP'],
    [{ RAFT_HEARTBEAT_MS: '100', RAFT_ELECTION_MS: '150' }, 'RAFT_ELECTION_MS'],
    [{ RAFT_AUTH_SECRET: 'short' }, 'RAFT_AUTH_SECRET'],
    [{ RAFT_AUTH_SECRET_ARN: 'not-an-arn' }, 'RAFT_AUTH_SECRET_ARN'],
    [{ CHAOS_DROP_PCT: '150' }, 'CHAOS_DROP_PCT'],
    [{ CHAOS_DELAY_MS_MIN: '50', CHAOS_DELAY_MS_MAX: '10' }, 'CHAOS_DELAY_MS_MAX'],
    [{ CHAOS_PROFILE: 'drop-pct=30,wobble=2' }, 'CHAOS_PROFILE'],
    [{ RAFT_BIND_ADDR: '0.0.0.0:7000' }, 'RAFT_ADVERTISE_ADDR'],
    [{ RAFT_PEERS: '' }, 'RAFT_PEERS'],
    [{ RAFT_PEERS: 'none' }, 'RAFT_PEERS'],
    [{ RAFT_PEERS: 'http://a:1,not a url' }, 'RAFT_PEERS'],
    [{ RAFT_INITIAL_CLUSTER_STATE: 'maybe' }, 'RAFT_INITIAL_CLUSTER_STATE'],
    [{ RAFT_INITIAL_CLUSTER_STATE: 'existing', RAFT_BOOTSTRAP: 'true' }, 'RAFT_BOOTSTRAP'],
    [{ RAFT_CLUSTER_ID: 'has space' }, 'RAFT_CLUSTER_ID'],
  ])('%j is refused naming %s', (env, name) => {
    const attempt = () => parseConfig({ ...base, ...env, ...(name === 'RAFT_NODE_ID' ? { RAFT_NODE_ID: '' } : {}) });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(name);
  });

  test('bootstrap once: RAFT_BOOTSTRAP=true is initial state new, which needs its peers (or `none`)', () => {
    expect(parseConfig({ ...base, RAFT_BOOTSTRAP: 'true' }).initialClusterState).toBe('new');
    expect(() => parseConfig({ RAFT_NODE_ID: 'n1', RAFT_INITIAL_CLUSTER_STATE: 'new' })).toThrow(
      /RAFT_PEERS: required/,
    );
    expect(parseConfig({ RAFT_NODE_ID: 'n1', RAFT_INITIAL_CLUSTER_STATE: 'new', RAFT_PEERS: 'none' }).peers).toEqual(
      [],
    );
    const cfg = parseConfig({
      RAFT_NODE_ID: 'n2',
      RAFT_CLUSTER_ID: 'prod',
      RAFT_PEERS: 'n1.raft.internal:8080, http://n3.raft.internal:8080/',
      RAFT_JOIN_ADDR: 'http://n1.raft.internal:8080',
    });
    expect(cfg).toMatchObject({
      clusterId: 'prod',
      initialClusterState: 'existing',
      peers: ['http://n1.raft.internal:8080', 'http://n3.raft.internal:8080'],
    });
  });

  test('chaos profile string and explicit variables combine, the variables winning', () => {
    expect(parseChaosProfile('drop-pct=30,delay=50-250,seed=7,target=n2,exit-on-leader')).toEqual({
      dropPct: 30,
      delayMinMs: 50,
      delayMaxMs: 250,
      seed: 7,
      targetNodeId: 'n2',
      exitOnLeader: true,
    });
    const cfg = parseConfig({
      ...base,
      CHAOS_ENABLED: 'true',
      CHAOS_PROFILE: 'drop-pct=30,delay=50-250',
      CHAOS_DROP_PCT: '5',
      CHAOS_SEED: '42',
    });
    expect(cfg.chaos).toEqual({
      enabled: true,
      dropPct: 5,
      delayMinMs: 50,
      delayMaxMs: 250,
      targetNodeId: undefined,
      seed: 42,
      exitOnLeader: false,
    });
    expect(parseChaosProfile('exit-in-install=saved')).toEqual({ exitInInstall: 'saved' });
    expect(() => parseChaosProfile('exit-in-install=later')).toThrow(
      '"exit-in-install=later": exit-in-install must be one of staged, saved',
    );
    expect(parseConfig({ ...base, CHAOS_ENABLED: 'true', CHAOS_EXIT_IN_INSTALL: 'staged' }).chaos.exitInInstall).toBe(
      'staged',
    );
    expect(() => parseConfig({ ...base, CHAOS_EXIT_IN_INSTALL: 'never' })).toThrow(/CHAOS_EXIT_IN_INSTALL/);
  });

  test('a bad variable stops the real process at start with exit code 2, naming it', () => {
    const repoRoot = resolve(__dirname, '..', '..', '..', '..');
    const out = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'raft-node', 'src', 'main.ts')], {
      cwd: repoRoot,
      env: { ...process.env, RAFT_NODE_ID: 'n1', RAFT_HEARTBEAT_MS: 'fast' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('RAFT_HEARTBEAT_MS');
  });
});
