import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LOG_FILE } from '../../../../raft-node/src/storage';
import { decodeRecord, RECORD_HEADER_BYTES, type DecodedRecord } from '../../../../raft-node/src/storage/records';
import { startRaftCluster, type RaftCluster } from '../../../../local-cloud/raft-cluster';
import { startOrderLoad } from './order-load';
import { suiteDataDir } from '../support/suite';

/**
 * Issue "Ledger cluster safety", finding 7, against real raft-node processes: a stopped node whose last synced
 * WAL batch is damaged refuses to start (exit 2, one line naming the file, the offset and walDamagedBytes); the
 * repair tool shows what it would drop and changes nothing without --yes, cuts the log with --yes, and the node
 * then starts and catches up. RAFT_WAL_ALLOW_TRUNCATE=true lets the node cut it itself, with an ERROR line.
 */

jest.setTimeout(120_000);

const repoRoot = resolve(__dirname, '..', '..', '..', '..');

/** Runs a TypeScript entry point of the repo until it exits (or 20 s): exit code, stdout and stderr. */
function run(script: string, args: string[], env: Record<string, string> = {}) {
  const out = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, script), ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

/** Flips a bit in the first record of the log's last batch; returns that record's offset and the log's length. */
function damageLastBatch(dataDir: string): { offset: number; logBytes: number } {
  const logPath = join(dataDir, LOG_FILE);
  const log = readFileSync(logPath);
  const records: DecodedRecord[] = [];
  for (let decoded = decodeRecord(log, 0); decoded.ok; decoded = decodeRecord(log, decoded.record.end)) {
    records.push(decoded.record);
  }
  const last = records.at(-1)!;
  const first = records.find((r) => r.batch === last.batch)!;
  expect(last.batch).toBeGreaterThan(1);
  const at = first.offset + RECORD_HEADER_BYTES;
  log[at] = (log[at] as number) ^ 0x04;
  writeFileSync(logPath, log);
  return { offset: first.offset, logBytes: last.end };
}

describe('a damaged synced WAL batch', () => {
  let cluster: RaftCluster;
  const dataDir = suiteDataDir('raft-wal-damage-', () => cluster?.stop());

  test('refuses the node; the repair tool dry-runs, then cuts; the node rejoins', async () => {
    cluster = await startRaftCluster({ dir: dataDir });
    const load = startOrderLoad(cluster.httpUrls, 4);
    await new Promise((r) => setTimeout(r, 1_500));
    await load.stop();
    expect(load.acked.size).toBeGreaterThan(0);
    await cluster.waitConverged(20_000);
    const n3 = cluster.node('n3');

    // The tool refuses a data dir a live node holds.
    const busy = run('tools/wal-repair.ts', ['--data-dir', n3.dataDir]);
    expect(busy.status).toBe(2);
    expect(busy.stderr).toContain(`in use by pid ${n3.process!.pid}`);

    await cluster.kill('n3', 'SIGTERM');
    const logPath = join(n3.dataDir, LOG_FILE);
    const { offset, logBytes } = damageLastBatch(n3.dataDir);
    const damaged = readFileSync(logPath);

    const refused = run('raft-node/src/main.ts', [], n3.env);
    expect(refused.status).toBe(2);
    const errors = `${refused.stdout}${refused.stderr}`.split('\n').filter((l) => l.includes('"level":"ERROR"'));
    expect(errors).toHaveLength(1);
    const line = JSON.parse(errors[0]!) as { message: string; offset: number; walDamagedBytes: number };
    expect(line.message).toContain(`${logPath}: corrupted data at byte offset ${offset}`);
    expect(line).toMatchObject({ offset, walDamagedBytes: logBytes - offset });
    expect(readFileSync(logPath).equals(damaged)).toBe(true);

    const dryRun = run('tools/wal-repair.ts', ['--data-dir', n3.dataDir]);
    expect(dryRun.status).toBe(0);
    expect(dryRun.stdout).toContain(`damaged: ${logPath} at byte offset ${offset}`);
    expect(dryRun.stdout).toContain(
      `would cut the log to byte offset ${offset}, dropping walDamagedBytes=${logBytes - offset}`,
    );
    expect(dryRun.stdout).toContain('dry run: nothing changed');
    expect(readFileSync(logPath).equals(damaged)).toBe(true);

    const repaired = run('tools/wal-repair.ts', ['--data-dir', n3.dataDir, '--yes']);
    expect(repaired.status).toBe(0);
    expect(repaired.stdout).toContain(`cut ${logPath} to byte offset ${offset}`);
    expect(readFileSync(logPath).subarray(0, offset).equals(damaged.subarray(0, offset))).toBe(true);
    expect(readFileSync(logPath).length).toBe(offset);
    expect(run('tools/wal-repair.ts', ['--data-dir', n3.dataDir]).stdout).toContain('no damaged synced data');

    await cluster.restart('n3');
    await cluster.waitConverged(20_000);
  });

  test('RAFT_WAL_ALLOW_TRUNCATE=true cuts the damaged batch at start with an ERROR line; the node catches up', async () => {
    const n3 = cluster.node('n3');
    await cluster.kill('n3', 'SIGTERM');
    const { offset, logBytes } = damageLastBatch(n3.dataDir);
    n3.ownEnv.RAFT_WAL_ALLOW_TRUNCATE = 'true';
    await cluster.restart('n3');
    delete n3.ownEnv.RAFT_WAL_ALLOW_TRUNCATE;
    await cluster.waitConverged(20_000);
    const cutLine = readFileSync(join(dataDir, 'n3.log'), 'utf8')
      .split('\n')
      .find((l) => l.includes('RAFT_WAL_ALLOW_TRUNCATE: cut damaged synced data'));
    expect(cutLine).toBeDefined();
    expect(JSON.parse(cutLine!)).toMatchObject({ level: 'ERROR', offset, walDamagedBytes: logBytes - offset });
  });
});
