import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { classifyCommand } from '../../../tools/lib/process-cpu';
import { descendants, killAll, processesNaming, waitAllGone, type ProcessId } from '../../support/processes';
import { sleep } from '../../../shared/util/wait';
import { createSqsClient, EMULATOR_CREDENTIALS } from '../../../shared/aws/clients';
import { sendCommands } from '../../../shared/aws/command-sender';
import { readRecords, recordFiles, stackInfoFile, type StackInfo } from '../../../local-cloud';

/**
 * The whole `npm start` stack (three Raft nodes in process groups of their own, the emulators under
 * their supervisors, the functions' workers) ended the way that used to leave the Raft nodes running:
 * `npm start | tee run.log`, then Ctrl-C — SIGINT, and the pipe gone with tee. lifecycle.test.ts covers
 * the other endings on a smaller launcher; this one costs a full start (synth + deploy), so it is one — and a
 * Ctrl-C during the start's synth, which needs the real start too.
 */

const ROOT = resolve(__dirname, '../../..');

/**
 * `npm start -- --port 0 --no-feed` on a fresh data dir, as a test process: its output kept (stderr also on its own),
 * `closed` resolving with the exit code once the last output is read ('close', not 'exit', as in lifecycle.test.ts:
 * the exit can come before the last of stderr is read). `detached` gives it a process group of its own.
 */
function startNpmStart(prefix: string, opts: { detached?: boolean } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'tools/start.ts', '--port', '0', '--no-feed', '--data-dir', dataDir],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: opts.detached ?? false },
  );
  let output = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
    stderr += c.toString();
  });
  const closed = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return { dataDir, child, closed, output: () => output, stderr: () => stderr };
}

/** Waits (up to 240 s) for `npm start` to write its stack.json, and returns it; `output` goes into the failure. */
async function waitForStackInfo(child: ChildProcess, dataDir: string, output: () => string): Promise<StackInfo> {
  const deadline = Date.now() + 240_000;
  while (!existsSync(stackInfoFile(dataDir))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the stack did not come up: ${output()}`);
    await sleep(250);
  }
  return JSON.parse(readFileSync(stackInfoFile(dataDir), 'utf8')) as StackInfo;
}

it('npm start | tee, then Ctrl-C: every process the stack started is gone within seconds', async () => {
  const { dataDir, child, closed, stderr } = startNpmStart('lifecycle-stack-');
  let processes: ProcessId[] = [];
  try {
    await waitForStackInfo(child, dataDir, stderr);
    processes = descendants(child.pid as number);
    expect(processes.filter((p) => classifyCommand(p.args) === 'raft')).toHaveLength(3);
    expect(processes.filter((p) => p.args.includes('process/supervise.js'))).toHaveLength(3);
    expect(processes.some((p) => p.args.includes('runtime/worker-host.js'))).toBe(true);

    const endedAt = Date.now();
    child.stdout.destroy(); // tee is gone…
    child.kill('SIGINT'); // …and the same Ctrl-C reaches npm start
    const alive = await waitAllGone(processes, 20_000);
    expect(alive.map((p) => `${p.pid} ${p.args}`)).toEqual([]);
    expect(await closed).toBe(0);
    expect(stderr()).not.toMatch(/^\s+at /m);
    process.stdout.write(
      `npm start | tee, Ctrl-C: all ${processes.length} processes gone in ${Date.now() - endedAt} ms\n`,
    );
  } finally {
    killAll(processes);
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);

it('Ctrl-C while the stack is still synthesizing: "stopped", exit 0, every process gone', async () => {
  // A process group of its own, like a terminal's foreground job: the SIGINT reaches every process in it, the
  // synth's too (which used to make the start fail, and `npm start` end with "npm start failed: cdk synth …").
  const { dataDir, child, closed, output } = startNpmStart('lifecycle-synth-', { detached: true });
  let processes: ProcessId[] = [];
  try {
    const deadline = Date.now() + 120_000;
    // The synth running, and the Raft nodes started alongside it (found by their data dir, as at the exit below).
    const raftNodes = () => processesNaming(dataDir).filter((p) => classifyCommand(p.args) === 'raft');
    while (!processes.some((p) => p.args.includes('infra/app.ts')) || raftNodes().length === 0) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no synth seen: ${output()}`);
      await sleep(50);
      processes = descendants(child.pid as number);
    }
    process.kill(-(child.pid as number), 'SIGINT');
    expect(await closed).toBe(0);
    // "No process left running" holds the moment npm start exits: nothing of its data dir runs (the Raft nodes
    // started alongside the synth were once left to exit on their own after it).
    const leftAtExit = processesNaming(dataDir);
    processes.push(...leftAtExit);
    expect(leftAtExit.map((p) => `${p.pid} ${p.args}`)).toEqual([]);
    expect(output()).toMatch(/SIGINT: stopping…/);
    expect(output()).toMatch(/stopped; no process left running/);
    expect(output()).not.toMatch(/failed/);
    const alive = await waitAllGone(processes, 20_000);
    expect(alive.map((p) => `${p.pid} ${p.args}`)).toEqual([]);
  } finally {
    killAll(processes);
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 180_000);

it('Ctrl-C with orders queued: every one is executed before the stop (SQS is kept in memory here)', async () => {
  const { dataDir, child, closed, output } = startNpmStart('lifecycle-drain-');
  try {
    const info = await waitForStackInfo(child, dataDir, output);
    // 100 orders straight onto the commands queue, as the trading API and the strategies send them; Ctrl-C at once.
    const orderIds = Array.from({ length: 100 }, (_, i) => `${i % 2 ? 'MSFT' : 'AAPL'}:drain-${i}:0`);
    const sqs = createSqsClient({ endpoint: info.endpoint, region: 'us-east-1', credentials: EMULATOR_CREDENTIALS });
    const now = Date.now();
    const commands = orderIds.map((orderId) => {
      const symbol = orderId.split(':')[0]!;
      const order = { orderId, account: info.tradingAccount, symbol, side: 'BUY' as const, quantity: 1, price: 100 };
      return { order, tickTs: now, commandTs: now, correlationId: orderId };
    });
    try {
      await sendCommands(sqs, info.outputs.CommandsQueueUrl!, commands);
    } finally {
      sqs.destroy();
    }
    child.kill('SIGINT');
    expect(await closed).toBe(0);
    expect(output()).toMatch(/stopped; no process left running/);
    expect(output()).not.toMatch(/are lost with this stop/);
    // The events recorder drained the events queue into the data dir: one event per order.
    const executed = new Set(
      readRecords(recordFiles(dataDir).events).map((r) => (JSON.parse(r.body) as { orderId: string }).orderId),
    );
    expect(orderIds.filter((id) => !executed.has(id))).toEqual([]);
  } finally {
    child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 300_000);
