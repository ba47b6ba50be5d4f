import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';
import { percentile } from './bench-raft';

/**
 * `npm run bench:raft:floor`: the least one replicated write can take on this machine, whatever the software. Four
 * processes on loopback do only what a Raft write must: a client sends 8 bytes to a "leader", which appends 200 bytes
 * to its own preallocated file and fdatasyncs it on the thread pool while it sends the 8 bytes to two "followers";
 * each follower appends and fdatasyncs 200 bytes and answers; the leader answers the client once its own sync and one
 * follower's answer are in. No framing, parsing, consensus or state machine: the wake-ups, loopback writes and
 * contended syncs that any 3-member cluster on one machine pays. `npm run bench:raft`'s one-client row is to be read
 * against this floor (docs/performance.md). A script: it prints, asserts nothing.
 */
const command = defineCommand({
  name: 'npm run bench:raft:floor',
  usage: `usage: npm run bench:raft:floor [-- --writes N]
One client, one write at a time, through a leader to two followers that each fdatasync; prints p50/p90/p99 and
writes/s.
  --writes N   writes measured, after 300 not measured (default 3000)`,
  // --role, --dir and --followers are how the command starts its own three server processes.
  options: {
    writes: { type: 'string', default: '3000' },
    role: { type: 'string' },
    dir: { type: 'string', default: '' },
    followers: { type: 'string', default: '' },
  },
  schema: z.object({
    writes: z.coerce.number().int().min(1).max(1_000_000),
    role: z.enum(['leader', 'follower']).optional(),
    dir: z.string(),
    followers: z.string().transform((s) => s.split(',').filter(Boolean).map(Number)),
  }),
});

const RECORD = Buffer.alloc(200, 1);
const PREALLOCATED = 16 * 1024 * 1024;

/** An append-only file with its space written ahead (as the ledger's log), so a sync flushes data, not its size. */
function appendLog(file: string): (done: () => void, sync: 'pool' | 'inline') => void {
  const fd = openSync(file, 'w+');
  writeSync(fd, Buffer.alloc(PREALLOCATED), 0, PREALLOCATED, 0);
  fdatasyncSync(fd);
  let offset = 0;
  process.once('exit', () => closeSync(fd));
  return (done, sync) => {
    writeSync(fd, RECORD, 0, RECORD.length, offset);
    offset = (offset + RECORD.length) % PREALLOCATED;
    if (sync === 'inline') {
      fdatasyncSync(fd);
      done();
    } else fdatasync(fd, done);
  };
}

/** Calls `onId` for every 8-byte id the socket brings (ids are small, so a chunk holds whole ones). */
function onIds(socket: Socket, onId: (id: number) => void): void {
  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    for (let i = 0; i + 8 <= chunk.length; i += 8) onId(chunk.readDoubleLE(i));
  });
}

const idFrame = (id: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(id);
  return b;
};

function listen(onConnection: (s: Socket) => void): void {
  const server = createServer(onConnection);
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as { port: number }).port));
}

function runFollower(dir: string): void {
  const append = appendLog(join(dir, `follower-${process.pid}.log`));
  listen((s) => onIds(s, (id) => append(() => s.write(idFrame(id)), 'inline')));
}

function runLeader(dir: string, followerPorts: number[]): void {
  const append = appendLog(join(dir, 'leader.log'));
  const followers = followerPorts.map((port) => connect({ port, host: '127.0.0.1', noDelay: true }));
  const waiting = new Map<number, { client: Socket; ownSync: boolean; acks: number }>();
  const answerIfCommitted = (id: number) => {
    const w = waiting.get(id);
    if (w?.ownSync && w.acks >= 1) {
      waiting.delete(id);
      w.client.write(idFrame(id));
    }
  };
  for (const f of followers)
    onIds(f, (id) => {
      const w = waiting.get(id);
      if (w) w.acks++;
      answerIfCommitted(id);
    });
  listen((client) =>
    onIds(client, (id) => {
      waiting.set(id, { client, ownSync: false, acks: 0 });
      append(() => {
        const w = waiting.get(id);
        if (w) w.ownSync = true;
        answerIfCommitted(id);
      }, 'pool');
      const frame = idFrame(id);
      for (const f of followers) f.write(frame);
    }),
  );
}

function start(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(__filename, args, { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve, reject) => {
    child.once('message', (port) => resolve({ child, port: Number(port) }));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with code ${code}`)));
  });
}

async function main({ argv, signal }: CommandContext): Promise<number> {
  const args = command.parse(argv);
  if (args.role) {
    // A server process lives as long as the command that forked it (its IPC channel closes when that one ends).
    process.once('disconnect', () => process.exit(0));
    if (args.role === 'follower') runFollower(args.dir);
    else runLeader(args.dir, args.followers);
    return new Promise(() => undefined);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bench-raft-floor-'));
  const children: ChildProcess[] = [];
  try {
    const followers = await Promise.all([1, 2].map(() => start(['--role', 'follower', '--dir', dir])));
    children.push(...followers.map((f) => f.child));
    const ports = followers.map((f) => f.port).join(',');
    const leader = await start(['--role', 'leader', '--dir', dir, '--followers', ports]);
    children.push(leader.child);
    const socket = connect({ port: leader.port, host: '127.0.0.1', noDelay: true });
    await new Promise((resolve) => socket.once('connect', resolve));
    let answered: () => void = () => undefined;
    onIds(socket, () => answered());
    const latencies: number[] = [];
    for (let id = 0; id < args.writes + 300 && !signal.aborted; id++) {
      const sent = performance.now();
      await new Promise<void>((resolve) => {
        answered = resolve;
        socket.write(idFrame(id));
      });
      if (id >= 300) latencies.push(performance.now() - sent);
    }
    socket.destroy();
    latencies.sort((a, b) => a - b);
    const total = latencies.reduce((a, b) => a + b, 0) / 1000;
    const ms = (q: number) => percentile(latencies, q).toFixed(3);
    process.stdout.write(
      `floor: ${latencies.length} writes, p50 ${ms(50)} ms, p90 ${ms(90)} ms, p99 ${ms(99)} ms, ` +
        `${(latencies.length / total).toFixed(0)} writes/s (one client, leader + 2 followers, fdatasync each)\n`,
    );
    return 0;
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) runCommand(command, main);
