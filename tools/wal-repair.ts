/**
 * `npm run wal:repair -- --data-dir DIR [--yes]`
 *
 * A Raft node refuses to start (exit 2) when raft.log has damage a torn write cannot explain: a bad record in a
 * batch that was synced (below the synced mark, or followed by an intact later batch). Such a batch may hold
 * entries the node acknowledged, so nothing cuts it silently (issue "Ledger cluster safety", finding 7). This
 * tool shows what cutting the log at the end of the last intact batch would drop and, with --yes only, cuts it;
 * the node then starts and catches up from the leader. It takes the data dir's lock, so it refuses while a node
 * runs on the directory. Exit codes: 0 intact or repaired or dry run, 2 bad arguments / dir in use / damage a
 * cut cannot repair.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CommandError, defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import {
  DataDirLock,
  DataDirRefusedError,
  LOG_FILE,
  RaftStorage,
  StorageCorruptionError,
} from '../raft-node/src/storage';

const command = defineCommand({
  name: 'npm run wal:repair',
  usage: `usage: npm run wal:repair -- --data-dir DIR [--yes]
  --data-dir DIR   the node's data dir (its RAFT_DATA_DIR), holding raft.log
  --yes            cut the log; without it, only print what would be dropped
The node must be stopped: the tool takes the data dir's LOCK and refuses while a live process holds it.
Cutting drops the damaged batch and everything after it (entries this node may have acknowledged; its vote
and commit index revert to the last intact batch); the node then catches up from the leader.`,
  options: {
    'data-dir': { type: 'string' },
    yes: { type: 'boolean', default: false },
  },
  schema: z.object({
    'data-dir': z.string({ error: "required: the node's data dir" }).min(1),
    yes: z.boolean(),
  }),
});

async function main({ argv }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  const dir = args['data-dir'];
  if (!existsSync(join(dir, LOG_FILE))) throw new CommandError(`${join(dir, LOG_FILE)} does not exist`, 2);
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(dir);
  } catch (err) {
    if (err instanceof DataDirRefusedError) throw new CommandError(`${err.message}; stop the node first`, 2);
    throw err;
  }
  try {
    return repair(dir, args.yes);
  } finally {
    lock.release();
  }
}

function repair(dir: string, yes: boolean): number {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let report: ReturnType<typeof RaftStorage.inspect>;
  try {
    report = RaftStorage.inspect(dir);
  } catch (err) {
    if (err instanceof StorageCorruptionError) {
      throw new CommandError(`${err.message.split(' Refusing')[0]} (not repairable by cutting the log)`, 2);
    }
    throw err;
  }
  const { damage } = report;
  if (!damage) {
    out(
      `${join(dir, LOG_FILE)}: no damaged synced data (${report.logBytes} bytes, synced up to ${report.syncedEnd})` +
        (report.tornBytes > 0 ? `; a torn unsynced tail of ${report.tornBytes} bytes the node cuts by itself` : ''),
    );
    return 0;
  }
  out(`damaged: ${damage.file} at byte offset ${damage.offset}`);
  out(
    `would cut the log to byte offset ${damage.truncateAt}, dropping walDamagedBytes=${damage.damagedBytes} bytes ` +
      `holding at least ${damage.intactEntries} readable entries`,
  );
  if (!yes) {
    out('dry run: nothing changed. Rerun with --yes to cut the log.');
    return 0;
  }
  RaftStorage.open(dir, { allowDamagedTruncate: true }).close();
  out(`cut ${damage.file} to byte offset ${damage.truncateAt}; the node can start and will catch up from the leader`);
  return 0;
}

runCommand(command, main);
