import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { CommandError, defineCommand, runCommand, type CommandContext } from '../../shared/process/cli';
import { watchParent } from '../../shared/process/parent-watch';
import { CONFIG_VARIABLES, ConfigError, parseConfig, type NodeConfig } from './config';
import { createLogger } from './logger';
import { LedgerNode } from './server/node';
import { DataDirRefusedError, StorageCorruptionError, WalDamagedError } from './storage';

/**
 * Entry point of a Raft ledger node (`npm run raft-node`, or the container's command).
 * Exit codes: 2 = bad configuration or arguments, or a data dir this node must not use (held by another
 * process, or another node's or cluster's, or damaged: see `npm run wal:repair`), 1 = fatal runtime error.
 */

/** One JSON line on stderr; exit 2: restarting the same process cannot help, an operator must act. */
function refuse(message: string, fields: Record<string, unknown> = {}): number {
  process.stderr.write(
    `${JSON.stringify({ level: 'ERROR', message, ...fields, service: 'raft-node', timestamp: new Date().toISOString() })}\n`,
  );
  return 2;
}

/** Damaged storage: the file, the offset and, for damage a cut can repair, what the cut would drop. */
function refuseCorruption(err: StorageCorruptionError): number {
  const fields: Record<string, unknown> = { file: err.file, offset: err.offset };
  if (err instanceof WalDamagedError) {
    Object.assign(fields, { walDamagedBytes: err.damagedBytes, walDamagedEntries: err.intactEntries });
  }
  return refuse(`refusing to start: ${err.message}`, fields);
}

const command = defineCommand({
  name: 'raft-node',
  usage: `usage: raft-node   (npm run raft-node, or the container's command; takes no arguments but --help)
A Raft ledger node, configured by environment variables (raft-node/src/config.ts checks each):
  ${CONFIG_VARIABLES.join(' ')
    .replace(/(.{1,96})(\s|$)/g, '$1\n  ')
    .trimEnd()}
RAFT_NODE_ID is required. SIGTERM/SIGINT/SIGHUP: a leader hands over leadership, then the node flushes and exits.
PARENT_WATCH=stdin (set by our launchers): also stop when stdin closes, i.e. when the launcher is gone.`,
  options: {},
  schema: z.object({}),
});

async function resolveSecret(cfg: NodeConfig): Promise<string | undefined> {
  if (cfg.authSecret || !cfg.authSecretArn) return cfg.authSecret;
  const sm = new SecretsManagerClient({});
  const out = await sm.send(new GetSecretValueCommand({ SecretId: cfg.authSecretArn }));
  const secret = out.SecretString;
  if (!secret || secret.length < 16) {
    throw new ConfigError('RAFT_AUTH_SECRET_ARN: the secret has no SecretString of at least 16 characters');
  }
  return secret;
}

async function main({ argv, signal }: CommandContext): Promise<number> {
  command.parse(argv);
  let cfg: NodeConfig;
  try {
    cfg = parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) return refuse(err.message);
    throw err;
  }
  const logger = createLogger(cfg.nodeId, cfg.logLevel);
  try {
    cfg = { ...cfg, authSecret: await resolveSecret(cfg) };
  } catch (err) {
    logger.error('could not read the auth secret', { error: err as Error });
    process.exit(2);
  }
  if (!cfg.authSecret) {
    logger.warn('RAFT_AUTH_SECRET is not set: the Raft API and transport are OPEN (development only)');
  }
  let node: LedgerNode;
  try {
    node = new LedgerNode(cfg, logger);
  } catch (err) {
    if (err instanceof DataDirRefusedError) return refuse(`refusing to start: ${err.message}`);
    if (err instanceof StorageCorruptionError) return refuseCorruption(err);
    throw err;
  }
  const stopped = new Promise<number>((resolve) => {
    let shuttingDown = false;
    const stop = (why: string) => {
      if (shuttingDown) return;
      shuttingDown = true;
      logger.info('shutting down', { reason: why });
      node.shutdown(why).then(
        () => resolve(0),
        (err: unknown) => {
          logger.error('unclean shutdown', { error: err as Error });
          resolve(1);
        },
      );
    };
    // SIGTERM, SIGINT, SIGHUP, stdout closed (shared/process/cli.ts).
    signal.addEventListener('abort', () => stop(String(signal.reason)), { once: true });
    // Only when a launcher of ours asked for it (PARENT_WATCH): standalone and in Docker there is no watch.
    if (watchParent(stop)) logger.debug('stops when its launcher is gone (PARENT_WATCH)');
  });
  try {
    await node.start();
  } catch (err) {
    logger.error('raft-node failed', { error: err as Error });
    throw new CommandError(`failed to start: ${(err as Error).message}`);
  }
  return stopped;
}

// No ppid watch here: a node may be started by a shell that then exits (setsid, nohup) and must keep
// running; our launchers use the stdin pipe instead (watchParent above). An uncaught exception exits at
// once, as it always did: no shutdown runs on state it may have left unknown (what is durable is fsync'd).
runCommand(command, main, { stopGraceMs: 60_000, watchOwnParent: false, onCrash: 'exit' });
