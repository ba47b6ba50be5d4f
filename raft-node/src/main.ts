import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, parseConfig, type NodeConfig } from './config';
import { createLogger } from './logger';
import { LedgerNode } from './server/node';
import { DataDirRefusedError } from './storage';

/**
 * Entry point of a Raft ledger node (`npm run raft-node`, or the container's command).
 * Exit codes: 2 = bad configuration or a data dir this node must not use (held by another process, or another
 * node's or cluster's), 1 = fatal runtime error.
 */

/** One JSON line on stderr, then exit 2: restarting the same process cannot help, an operator must act. */
function refuse(message: string): never {
  process.stderr.write(
    `${JSON.stringify({ level: 'ERROR', message, service: 'raft-node', timestamp: new Date().toISOString() })}\n`,
  );
  process.exit(2);
}

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

async function main(): Promise<void> {
  let cfg: NodeConfig;
  try {
    cfg = parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) refuse(err.message);
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
    if (err instanceof DataDirRefusedError) refuse(`refusing to start: ${err.message}`);
    throw err;
  }
  let shuttingDown = false;
  const stop = (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    node
      .shutdown(signal)
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error('unclean shutdown', { error: err as Error });
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await node.start();
}

main().catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'ERROR', message: 'raft-node failed', error: String((err as Error)?.stack ?? err) })}\n`,
  );
  process.exit(1);
});
