import { z } from 'zod';
import type { ConnectionLimits } from './server/connection-gate';

/**
 * The node's whole configuration, read from the environment once at start. A bad value stops the
 * process with a message naming the variable (see `loadConfig`).
 */

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7000')
  .refine((v) => {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    return port > 0 && port < 65536;
  }, 'port must be 1-65535');

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const httpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), 'must be an http(s) URL')
  .transform((v) => v.replace(/\/+$/, ''));

const optionalSecret = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z.string().min(16, 'must be at least 16 characters').optional(),
);

/** The steps of installing a received store at which a crash leaves a distinct state on disk (node.ts). */
export const INSTALL_STEPS = ['staged', 'saved'] as const;
export type InstallStep = (typeof INSTALL_STEPS)[number];

const EnvSchema = z
  .object({
    RAFT_NODE_ID: z
      .string({ error: 'is required' })
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -'),
    RAFT_BIND_ADDR: hostPort.default('127.0.0.1:7000'),
    RAFT_ADVERTISE_ADDR: hostPort.optional(),
    RAFT_DATA_DIR: z.string().min(1).optional(),
    RAFT_WAL_ALLOW_TRUNCATE: bool.default(false),
    RAFT_CLUSTER_ID: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 letters, digits, _ or -')
      .optional(),
    RAFT_INITIAL_CLUSTER_STATE: z.enum(['new', 'existing']).optional(),
    RAFT_PEERS: z.string().min(1).optional(),
    RAFT_BOOTSTRAP: bool.default(false),
    RAFT_JOIN_ADDR: z.string().min(1).optional(),
    PORT_HTTP: positiveInt(1, 65535).default(8080),
    HTTP_BIND_HOST: z.string().min(1).default('127.0.0.1'),
    PORT_CLIENT: positiveInt(1, 65535).optional(),
    RAFT_HTTP_ADVERTISE_URL: httpUrl.optional(),
    LOG_LEVEL: z
      .string()
      .transform((v) => v.toLowerCase())
      .pipe(z.enum(['debug', 'info', 'warn', 'error']))
      .default('info'),
    RAFT_HEARTBEAT_MS: positiveInt(1, 10_000).default(50),
    RAFT_ELECTION_MS: positiveInt(2, 60_000).default(300),
    RAFT_SNAPSHOT_THRESHOLD: positiveInt(1, 100_000_000).default(100_000),
    RAFT_SNAPSHOT_LOG_MIB: positiveInt(1, 65_536).default(64),
    RAFT_SNAPSHOT_CHUNK_BYTES: positiveInt(4_096, 64 * 1024 * 1024).default(1024 * 1024),
    RAFT_SNAPSHOT_CHUNKS_IN_FLIGHT: positiveInt(1, 64).default(4),
    RAFT_STORE_CACHE_MIB: positiveInt(1, 4_096).default(32),
    RAFT_MAX_INFLIGHT_MSGS: positiveInt(1, 10_000).default(256),
    RAFT_MAX_ENTRIES_PER_APPEND: positiveInt(1, 100_000).default(1024),
    RAFT_SHUTDOWN_TRANSFER_MS: positiveInt(0, 60_000).default(2_000),
    RAFT_AUTH_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    RAFT_AUTH_SECRET_ARN: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN')
      .optional(),
    // Connection limits (docs/security.md#limits): per listener, per source address, and how long a new connection
    // may take to authenticate / send its first request.
    RAFT_HTTP_MAX_CONNECTIONS: positiveInt(1, 1_000_000).default(1024),
    RAFT_HTTP_MAX_CONNECTIONS_PER_ADDR: positiveInt(1, 1_000_000).default(256),
    RAFT_HTTP_HEADERS_TIMEOUT_MS: positiveInt(100, 600_000).default(5_000),
    RAFT_HTTP_REQUEST_TIMEOUT_MS: positiveInt(100, 600_000).default(30_000),
    RAFT_HTTP_KEEPALIVE_TIMEOUT_MS: positiveInt(100, 600_000).default(15_000),
    RAFT_PEER_MAX_CONNECTIONS: positiveInt(1, 1_000_000).default(64),
    RAFT_PEER_MAX_CONNECTIONS_PER_ADDR: positiveInt(1, 1_000_000).default(16),
    RAFT_PEER_HANDSHAKE_TIMEOUT_MS: positiveInt(100, 600_000).default(2_000),
    /** During a rotation: the secret being replaced; its tokens and peer proofs stay valid until it is unset (or empty). */
    RAFT_AUTH_SECRET_PREVIOUS: optionalSecret,
    /**
     * The nodes' own secret for the peer handshake, which no client holds. Without it the peer key derives from
     * RAFT_AUTH_SECRET. Empty counts as unset (compose passes `${RAFT_PEER_SECRET:-}`).
     */
    RAFT_PEER_SECRET: optionalSecret,
    RAFT_PEER_SECRET_PREVIOUS: optionalSecret,
    CHAOS_ENABLED: bool.default(false),
    CHAOS_PROFILE: z.string().optional(),
    CHAOS_TARGET_NODE_ID: z.string().min(1).optional(),
    CHAOS_DROP_PCT: z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'must be a number 0-100')
      .transform(Number)
      .pipe(z.number().min(0).max(100))
      .optional(),
    CHAOS_DELAY_MS_MIN: positiveInt(0, 60_000).optional(),
    CHAOS_DELAY_MS_MAX: positiveInt(0, 60_000).optional(),
    CHAOS_SEED: positiveInt(0, 2 ** 32 - 1).optional(),
    CHAOS_EXIT_ON_LEADER: bool.default(false),
    CHAOS_EXIT_IN_INSTALL: z.enum(INSTALL_STEPS).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.RAFT_ELECTION_MS < 2 * env.RAFT_HEARTBEAT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['RAFT_ELECTION_MS'],
        message: 'must be at least twice RAFT_HEARTBEAT_MS',
      });
    }
    if (env.RAFT_AUTH_SECRET_PREVIOUS && !env.RAFT_AUTH_SECRET && !env.RAFT_AUTH_SECRET_ARN) {
      ctx.addIssue({
        code: 'custom',
        path: ['RAFT_AUTH_SECRET_PREVIOUS'],
        message: 'only meaningful with RAFT_AUTH_SECRET or RAFT_AUTH_SECRET_ARN (the new secret of a rotation)',
      });
    }
    if (env.RAFT_AUTH_SECRET && env.RAFT_AUTH_SECRET_ARN) {
      ctx.addIssue({
        code: 'custom',
        path: ['RAFT_AUTH_SECRET_ARN'],
        message: 'set either RAFT_AUTH_SECRET or RAFT_AUTH_SECRET_ARN, not both',
      });
    }
    if (env.RAFT_HTTP_MAX_CONNECTIONS_PER_ADDR > env.RAFT_HTTP_MAX_CONNECTIONS) {
      ctx.addIssue({
        code: 'custom',
        path: ['RAFT_HTTP_MAX_CONNECTIONS_PER_ADDR'],
        message: 'must be <= RAFT_HTTP_MAX_CONNECTIONS',
      });
    }
    if (env.RAFT_PEER_MAX_CONNECTIONS_PER_ADDR > env.RAFT_PEER_MAX_CONNECTIONS) {
      ctx.addIssue({
        code: 'custom',
        path: ['RAFT_PEER_MAX_CONNECTIONS_PER_ADDR'],
        message: 'must be <= RAFT_PEER_MAX_CONNECTIONS',
      });
    }
    if (
      env.CHAOS_DELAY_MS_MIN !== undefined &&
      env.CHAOS_DELAY_MS_MAX !== undefined &&
      env.CHAOS_DELAY_MS_MIN > env.CHAOS_DELAY_MS_MAX
    ) {
      ctx.addIssue({ code: 'custom', path: ['CHAOS_DELAY_MS_MAX'], message: 'must be >= CHAOS_DELAY_MS_MIN' });
    }
  });

/** The variables the node reads, for its --help. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

export interface ChaosSettings {
  enabled: boolean;
  dropPct: number;
  delayMinMs: number;
  delayMaxMs: number;
  targetNodeId?: string;
  seed: number;
  exitOnLeader: boolean;
  /** CHAOS_EXIT_IN_INSTALL: the step of a received store's install (node.ts) at which the process kills itself. */
  exitInInstall?: InstallStep;
}

/** The HTTP API's limits: the connection gate's, plus how long a request and an idle keep-alive may last. */
export interface HttpLimits extends ConnectionLimits {
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export interface NodeConfig {
  nodeId: string;
  bindHost: string;
  bindPort: number;
  advertiseAddr: string;
  dataDir: string;
  /**
   * RAFT_WAL_ALLOW_TRUNCATE: cut damaged synced data from raft.log at start (ERROR log) instead of refusing;
   * entries this node acknowledged may be lost, the node catches up from the leader.
   */
  walAllowTruncate: boolean;
  /** RAFT_CLUSTER_ID: the data dir must belong to this cluster (a new cluster takes this id). */
  clusterId?: string;
  /**
   * 'new': this node may form the cluster, but only from an empty data dir and only once every peer answers and
   * none is in a cluster yet (see bootstrap.ts). 'existing': an empty data dir joins through the peers.
   */
  initialClusterState: 'new' | 'existing';
  /** HTTP base URLs of the other members, probed before a bootstrap and asked to (re)add this node. */
  peers: string[];
  httpPort: number;
  httpBindHost: string;
  httpAdvertiseUrl: string;
  /**
   * PORT_CLIENT: the binary client protocol's port (binary-api.ts), on HTTP_BIND_HOST with the HTTP API's limits;
   * unset: no binary listener (clients then use HTTP). Advertised as host:port with the HTTP URL's host.
   */
  clientPort?: number;
  clientAdvertiseAddr?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  heartbeatMs: number;
  electionTicks: number;
  /**
   * Applied entries between snapshots (etcd's --snapshot-count, same default). The order store already persists the
   * applied state, so a snapshot only compacts the log and seeds a far-behind follower; each one copies the whole
   * store in the background, which at every 10,000 entries took half the leader's throughput at 256 clients.
   */
  snapshotThreshold: number;
  /** A snapshot is also due once the log since the last one holds this many MiB (entries of big order batches). */
  snapshotLogMiB: number;
  /** Snapshot records on disk and InstallSnapshot chunks on the wire stay under this many bytes. */
  snapshotChunkBytes: number;
  /** InstallSnapshot chunks sent ahead of the follower's acks. */
  snapshotChunksInFlight: number;
  /** The order store's (SQLite's) page cache: the part of the node's memory the order history may use. */
  storeCacheMiB: number;
  maxInflightMsgs: number;
  maxEntriesPerAppend: number;
  shutdownTransferMs: number;
  authSecret?: string;
  authSecretArn?: string;
  httpLimits: HttpLimits;
  /** The Raft listener's limits; firstMessageTimeoutMs is the handshake deadline. */
  peerLimits: ConnectionLimits;
  /** RAFT_AUTH_SECRET_PREVIOUS: still accepted (never used to sign) while a rotation is under way. */
  authSecretPrevious?: string;
  /** RAFT_PEER_SECRET (+ _PREVIOUS during a rotation): the peer key's source when set. */
  peerSecret?: string;
  peerSecretPrevious?: string;
  chaos: ChaosSettings;
}

export class ConfigError extends Error {}

function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(addr.slice(i + 1)) };
}

/** "drop-pct=30,delay=50-250,seed=7,target=n2,exit-on-leader,exit-in-install=saved" → partial chaos settings. */
export function parseChaosProfile(profile: string): Partial<ChaosSettings> {
  const out: Partial<ChaosSettings> = {};
  for (const raw of profile.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const [key, value = ''] = part.split('=', 2).map((s) => s.trim()) as [string, string?];
    const num = (v: string, max: number): number => {
      if (!/^\d+(\.\d+)?$/.test(v) || Number(v) > max) throw new ConfigError(`"${part}": ${key} must be 0-${max}`);
      return Number(v);
    };
    switch (key) {
      case 'drop-pct':
      case 'drop':
        out.dropPct = num(value, 100);
        break;
      case 'delay': {
        const m = /^(\d+)(?:-(\d+))?$/.exec(value);
        if (!m) throw new ConfigError(`"${part}": delay must be MS or MIN-MAX`);
        out.delayMinMs = Number(m[1]);
        out.delayMaxMs = Number(m[2] ?? m[1]);
        if (out.delayMinMs > out.delayMaxMs) throw new ConfigError(`"${part}": delay MIN must be <= MAX`);
        break;
      }
      case 'seed':
        out.seed = num(value, 2 ** 32 - 1);
        break;
      case 'target':
        if (!value) throw new ConfigError(`"${part}": target needs a node id`);
        out.targetNodeId = value;
        break;
      case 'exit-on-leader':
        out.exitOnLeader = value === '' || value === 'true' || value === '1';
        break;
      case 'exit-in-install':
        if (!(INSTALL_STEPS as readonly string[]).includes(value)) {
          throw new ConfigError(`"${part}": exit-in-install must be one of ${INSTALL_STEPS.join(', ')}`);
        }
        out.exitInInstall = value as InstallStep;
        break;
      default:
        throw new ConfigError(
          `unknown key "${key}" (known: drop-pct, delay, seed, target, exit-on-leader, exit-in-install)`,
        );
    }
  }
  return out;
}

/** RAFT_BOOTSTRAP=true is the older spelling of RAFT_INITIAL_CLUSTER_STATE=new. */
function resolveInitialState(state: 'new' | 'existing' | undefined, bootstrap: boolean): 'new' | 'existing' {
  if (state === 'existing' && bootstrap) {
    throw new ConfigError(
      'invalid configuration: RAFT_BOOTSTRAP: true contradicts RAFT_INITIAL_CLUSTER_STATE=existing; set only the latter',
    );
  }
  return state ?? (bootstrap ? 'new' : 'existing');
}

const toUrl = (v: string): string => (/^https?:\/\//.test(v) ? v : `http://${v}`).replace(/\/+$/, '');

/**
 * RAFT_PEERS (comma-separated HTTP URLs or host:port) plus RAFT_JOIN_ADDR. A node that may bootstrap must name its
 * peers, or `none` for a deliberate one-node cluster: without them it could not tell a first start from a lost
 * volume, and would form a second cluster. A joining node needs at least one.
 */
function parsePeers(raw: string | undefined, joinAddr: string | undefined, state: 'new' | 'existing'): string[] {
  if (raw?.trim() === 'none') {
    if (state === 'existing' || joinAddr) {
      throw new ConfigError('invalid configuration: RAFT_PEERS: `none` is only for a one-node cluster that bootstraps');
    }
    return [];
  }
  const list = [...(raw ?? '').split(','), joinAddr ?? ''].map((v) => v.trim()).filter((v) => v !== '');
  const bad = list.find((v) => !/^(https?:\/\/)?[A-Za-z0-9.\-_[\]:]+:\d{1,5}\/?$/.test(v));
  if (bad) throw new ConfigError(`invalid configuration: RAFT_PEERS: "${bad}" is not an http(s)://host:port URL`);
  if (list.length === 0) {
    throw new ConfigError(
      state === 'new'
        ? 'invalid configuration: RAFT_PEERS: required with RAFT_INITIAL_CLUSTER_STATE=new (the HTTP URLs of the ' +
            'other initial members, probed so that an empty data dir never forms a second cluster; `none` for a ' +
            'one-node cluster)'
        : 'invalid configuration: RAFT_PEERS: required to join an existing cluster (HTTP URLs of its members)',
    );
  }
  return [...new Set(list.map(toUrl))];
}

/** The chaos settings: CHAOS_PROFILE's values, each overridden by its own CHAOS_* variable. */
function chaosSettings(e: z.infer<typeof EnvSchema>): NodeConfig['chaos'] {
  let profile: Partial<ChaosSettings> = {};
  if (e.CHAOS_PROFILE) {
    try {
      profile = parseChaosProfile(e.CHAOS_PROFILE);
    } catch (err) {
      throw new ConfigError(`invalid configuration: CHAOS_PROFILE: ${(err as Error).message}`);
    }
  }
  const delayMinMs = e.CHAOS_DELAY_MS_MIN ?? profile.delayMinMs ?? 0;
  const delayMaxMs = e.CHAOS_DELAY_MS_MAX ?? profile.delayMaxMs ?? delayMinMs;
  if (delayMinMs > delayMaxMs) {
    throw new ConfigError('invalid configuration: CHAOS_DELAY_MS_MAX: must be >= the minimum delay');
  }
  return {
    enabled: e.CHAOS_ENABLED,
    dropPct: e.CHAOS_DROP_PCT ?? profile.dropPct ?? 0,
    delayMinMs,
    delayMaxMs,
    targetNodeId: e.CHAOS_TARGET_NODE_ID ?? profile.targetNodeId,
    seed: e.CHAOS_SEED ?? profile.seed ?? Date.now() % 2 ** 32,
    exitOnLeader: e.CHAOS_EXIT_ON_LEADER || profile.exitOnLeader === true,
    exitInInstall: e.CHAOS_EXIT_IN_INSTALL ?? profile.exitInInstall,
  };
}

/** Parses and validates the environment; throws ConfigError naming the first bad variable(s). */
/** The binary listener's port and the address clients are told (the HTTP URL's host, this port). */
function clientEndpoint(port: number | undefined, httpUrl: string | undefined, advertiseHost: string) {
  if (port === undefined) return {};
  const host = httpUrl ? new URL(httpUrl).hostname : advertiseHost.includes(':') ? `[${advertiseHost}]` : advertiseHost;
  return { clientPort: port, clientAdvertiseAddr: `${host}:${port}` };
}

export function parseConfig(env: NodeJS.ProcessEnv): NodeConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${msg}`);
  }
  const e = parsed.data;
  const bind = splitHostPort(e.RAFT_BIND_ADDR);
  const advertiseAddr = e.RAFT_ADVERTISE_ADDR ?? e.RAFT_BIND_ADDR;
  const advertiseHost = splitHostPort(advertiseAddr).host;
  if (advertiseHost === '0.0.0.0' || advertiseHost === '::' || advertiseHost === '') {
    throw new ConfigError(
      'invalid configuration: RAFT_ADVERTISE_ADDR: required (a reachable host:port) when RAFT_BIND_ADDR binds all interfaces',
    );
  }
  const chaos = chaosSettings(e);
  const initialClusterState = resolveInitialState(e.RAFT_INITIAL_CLUSTER_STATE, e.RAFT_BOOTSTRAP);
  const peers = parsePeers(e.RAFT_PEERS, e.RAFT_JOIN_ADDR, initialClusterState);
  return {
    nodeId: e.RAFT_NODE_ID,
    bindHost: bind.host,
    bindPort: bind.port,
    advertiseAddr,
    dataDir: e.RAFT_DATA_DIR ?? `./.data/raft/${e.RAFT_NODE_ID}`,
    walAllowTruncate: e.RAFT_WAL_ALLOW_TRUNCATE,
    clusterId: e.RAFT_CLUSTER_ID,
    initialClusterState,
    peers,
    httpPort: e.PORT_HTTP,
    httpBindHost: e.HTTP_BIND_HOST,
    httpAdvertiseUrl:
      e.RAFT_HTTP_ADVERTISE_URL ??
      `http://${advertiseHost.includes(':') ? `[${advertiseHost}]` : advertiseHost}:${e.PORT_HTTP}`,
    ...clientEndpoint(e.PORT_CLIENT, e.RAFT_HTTP_ADVERTISE_URL, advertiseHost),
    logLevel: e.LOG_LEVEL,
    heartbeatMs: e.RAFT_HEARTBEAT_MS,
    electionTicks: Math.max(2, Math.round(e.RAFT_ELECTION_MS / e.RAFT_HEARTBEAT_MS)),
    snapshotThreshold: e.RAFT_SNAPSHOT_THRESHOLD,
    snapshotLogMiB: e.RAFT_SNAPSHOT_LOG_MIB,
    snapshotChunkBytes: e.RAFT_SNAPSHOT_CHUNK_BYTES,
    snapshotChunksInFlight: e.RAFT_SNAPSHOT_CHUNKS_IN_FLIGHT,
    storeCacheMiB: e.RAFT_STORE_CACHE_MIB,
    maxInflightMsgs: e.RAFT_MAX_INFLIGHT_MSGS,
    maxEntriesPerAppend: e.RAFT_MAX_ENTRIES_PER_APPEND,
    shutdownTransferMs: e.RAFT_SHUTDOWN_TRANSFER_MS,
    authSecret: e.RAFT_AUTH_SECRET,
    authSecretArn: e.RAFT_AUTH_SECRET_ARN,
    httpLimits: {
      maxConnections: e.RAFT_HTTP_MAX_CONNECTIONS,
      maxPerAddress: e.RAFT_HTTP_MAX_CONNECTIONS_PER_ADDR,
      firstMessageTimeoutMs: e.RAFT_HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.RAFT_HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.RAFT_HTTP_KEEPALIVE_TIMEOUT_MS,
    },
    peerLimits: {
      maxConnections: e.RAFT_PEER_MAX_CONNECTIONS,
      maxPerAddress: e.RAFT_PEER_MAX_CONNECTIONS_PER_ADDR,
      firstMessageTimeoutMs: e.RAFT_PEER_HANDSHAKE_TIMEOUT_MS,
    },
    authSecretPrevious: e.RAFT_AUTH_SECRET_PREVIOUS,
    peerSecret: e.RAFT_PEER_SECRET,
    peerSecretPrevious: e.RAFT_PEER_SECRET_PREVIOUS,
    chaos,
  };
}
