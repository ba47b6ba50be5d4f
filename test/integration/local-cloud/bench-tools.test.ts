import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import {
  classifyCommand,
  clockTicks,
  cpuMsBetween,
  cpuMsByLabel,
  parseProcStat,
  processLabel,
  sampleProcessTree,
} from '../../../tools/lib/process-cpu';
import { Progress, progressLine } from '../../../tools/lib/progress';
import { sleep } from '../../../shared/util/wait';

describe('process tree CPU (tools/lib/process-cpu)', () => {
  it('parses /proc/<pid>/stat with spaces and parentheses in the command name', () => {
    // Fields after ')': state ppid … utime(12th) stime cutime cstime.
    const line = '4242 (node (a b)) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 11 0 1000';
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 17, ticks: 250 + 50 + 7 + 3 });
    expect(parseProcStat('garbage')).toBeUndefined();
  });

  it('tells the stack apart by command line', () => {
    expect(classifyCommand('java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory')).toBe(
      'emulators',
    );
    expect(classifyCommand('/usr/bin/node node_modules/kinesalite/cli.js --port 0')).toBe('emulators');
    expect(classifyCommand('/usr/bin/node node_modules/fauxqs/dist/cli.js')).toBe('emulators');
    expect(classifyCommand('/usr/bin/node --import tsx /repo/raft-node/src/main.ts')).toBe('raft');
    expect(classifyCommand('/usr/bin/node --enable-source-maps /tmp/local-cloud-bundles-1-x/raft-node.js')).toBe(
      'raft',
    );
    expect(classifyCommand('/usr/bin/node --import tsx /repo/local-cloud/runtime/worker-host.ts x handler')).toBe(
      'functions',
    );
    expect(
      classifyCommand('/usr/bin/node /tmp/local-cloud-bundles-1-x/runtime/worker-host.js /a/index.js handler'),
    ).toBe('functions');
    expect(classifyCommand('/usr/bin/node --import tsx tools/bench.ts')).toBe('bench');
  });

  it('names a worker by its function and an emulator by its program, for the per-process breakdown', () => {
    const env = ['PATH=/usr/bin', 'AWS_LAMBDA_FUNCTION_NAME=PipelineStack-ExecuteFunction', 'TZ=UTC'].join('\0');
    expect(processLabel('functions', 'node worker-host.ts /x/index.js handler', env)).toBe('fn ExecuteFunction');
    expect(processLabel('functions', 'node worker-host.ts /x/index.js handler', 'PATH=/usr/bin')).toBe('fn unknown');
    expect(processLabel('emulators', 'java -cp DynamoDBLocal.jar DynamoDbLocalLoopback -port 1', '')).toBe(
      'DynamoDB Local',
    );
    expect(processLabel('emulators', 'node node_modules/kinesalite/index.js', '')).toBe('kinesalite');
    expect(processLabel('emulators', 'node node_modules/fauxqs/dist/cli.js', '')).toBe('fauxqs');
    expect(processLabel('raft', 'node raft-node.js', '')).toBe('raft');
  });

  it('counts the CPU of a busy child process, and of one that exited between two samples', async () => {
    expect(clockTicks()).toBeGreaterThan(0);
    const before = sampleProcessTree();
    // A real child that burns ~400 ms of CPU and exits (reaped by this process: its time moves to our cutime).
    const child = spawn(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 400);']);
    await new Promise((r) => child.on('exit', r));
    const after = sampleProcessTree();
    const ms = cpuMsBetween(before, after);
    // Its CPU is at least a good share of 400 ms even on a loaded machine (it may be descheduled part of the time).
    expect(ms.total).toBeGreaterThanOrEqual(100);
    // The per-process breakdown covers the same ticks as the kinds (the reaped child is in this process's, 'bench').
    const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    expect(sum(after.byLabel)).toBe(sum(after.ticks));
    expect(cpuMsByLabel(before, after)[0]?.[0]).toBe('bench');
    expect(after.processes).toBeGreaterThanOrEqual(1);
  });
});

describe('progress bar (tools/lib/progress)', () => {
  it('shows step i/n, elapsed and remaining, and the status', () => {
    const line = progressLine({ step: 2, steps: 3, elapsedSeconds: 75, remainingSeconds: 25, status: 'rate 100' });
    expect(line).toBe('[##################......] step 2/3 | 1m15s elapsed, ~25s left | rate 100');
  });

  it('prints whole lines, no carriage returns, when not on a TTY', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    const progress = new Progress({
      steps: 2,
      expectedSeconds: 10,
      stream: out as unknown as NodeJS.WriteStream,
      intervalMs: 50,
    });
    progress.update(1, 'sending');
    await sleep(180);
    progress.stop();
    expect(text).toMatch(/^progress: \[.*\] step 1\/2 \| 0s elapsed, ~10s left \| sending\n/);
    expect(text).not.toContain('\r');
  });
});
