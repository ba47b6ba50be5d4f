import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { SnapshotMessage } from '../../../../raft-node/src/core';
import { encodeCommand, LedgerStateMachine } from '../../../../raft-node/src/ledger';
import { createLogger } from '../../../../raft-node/src/logger';
import {
  SnapshotReceiver,
  SnapshotSender,
  type SnapshotAckMessage,
  type SnapshotChunkMessage,
  type SnapshotSource,
} from '../../../../raft-node/src/server/snapshot-transfer';
import {
  coreSnapshot,
  frameStoreCopy,
  isStoreRef,
  readSnapshotInfo,
  readSnapshotRecords,
  readStoreState,
  removeStoreFiles,
  SqliteOrderStore,
  writeSnapshotFile,
  type SnapshotRecord,
} from '../../../../raft-node/src/storage';
import { ledgerSnapshotText } from '../../../support/ledger-snapshot';

/**
 * The chunked InstallSnapshot between a real sender and a real receiver on real files, wired directly (what the
 * transport would carry is handed over as is; the process test runs the same over TCP between node processes).
 * Corrupting a chunk in flight is a fault only this wiring can produce, so it is done here.
 */
const logger = createLogger('test', 'error');
const CHUNK = 4096;
const IN_FLIGHT = 4;

function orderOf(i: number) {
  return { orderId: `o-${i}`, account: `a${i % 7}`, symbol: 'ACME', side: 'BUY' as const, quantity: 1, price: 3 };
}

function ledgerOf(orders: number): LedgerStateMachine {
  const ledger = new LedgerStateMachine();
  for (let i = 0; i < orders; i++) ledger.apply(encodeCommand({ type: 'order', order: orderOf(i) }), i + 1);
  return ledger;
}

interface TransferOptions {
  tamper?: (c: SnapshotChunkMessage) => void;
  restartAfter?: number;
  lose?: number;
  message?: SnapshotMessage;
  source?: SnapshotSource;
}

/**
 * Runs a transfer from a real sender to a real receiver (with a store path, as in a node) writing into `followerDir`,
 * to completion; `tamper` may change a chunk on its way, `restartAfter` restarts the receiver, `lose` drops the chunk
 * sent at that position (as a transport that reconnected would).
 */
function runTransfer(followerDir: string, message: SnapshotMessage, source: SnapshotSource, options: TransferOptions) {
  const chunks: SnapshotChunkMessage[] = [];
  const acks: SnapshotAckMessage[] = [];
  const delivered: SnapshotMessage[] = [];
  let queue: Array<() => number | void> = [];
  const newReceiver = () =>
    new SnapshotReceiver({
      self: 'n2',
      receivePath: path.join(followerDir, 'snapshot.recv.tmp'),
      storePath: path.join(followerDir, 'snapshot.recv.store.tmp'),
      clusterId: () => null,
      send: (ack) => queue.push(() => (acks.push(ack), sender.onAck(ack))),
      deliver: (m) => delivered.push(m),
      logger,
    });
  let receiver = newReceiver();
  const sender: SnapshotSender = new SnapshotSender({
    chunkBytes: CHUNK,
    chunksInFlight: IN_FLIGHT,
    clusterId: () => '',
    send: (c) =>
      queue.push(() => {
        chunks.push(c);
        if (chunks.length === options.lose) return;
        options.tamper?.(c);
        if (chunks.length === options.restartAfter) {
          // The follower restarted: what it had received is gone (its storage removes snapshot.*.tmp on open).
          receiver.close();
          receiver = newReceiver();
        }
        receiver.onChunk(c);
      }),
    logger,
  });
  const drain = () => {
    while (queue.length > 0) {
      const next = queue;
      queue = [];
      next.forEach((step) => step());
    }
  };
  sender.start(message, source);
  drain();
  return { chunks, acks, delivered, receiver, sender, drain };
}

describe('chunked snapshot transfer', () => {
  let root: string;
  let snapshotPath: string;
  let message: SnapshotMessage;
  let source: SnapshotSource;
  let ledger: LedgerStateMachine;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-transfer-'));
    fs.mkdirSync(path.join(root, 'leader'));
    fs.mkdirSync(path.join(root, 'follower'));
    snapshotPath = path.join(root, 'leader', 'snapshot');
    ledger = ledgerOf(3_000);
    const meta = { index: ledger.appliedIndex, term: 2, config: { voters: ['n1', 'n2'], learners: [] } };
    const info = writeSnapshotFile(
      snapshotPath,
      { clusterId: null, ...meta, members: {} },
      ledger.snapshotRecords(CHUNK),
    );
    message = { type: 'Snapshot', from: 'n1', to: 'n2', term: 2, snapshot: coreSnapshot(info) };
    source = { path: snapshotPath, meta, sha256: info.sha256, bytes: info.bytes };
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const transfer = (options: TransferOptions = {}) =>
    runTransfer(path.join(root, 'follower'), options.message ?? message, options.source ?? source, options);

  it('sends the file in chunks under the bound, a window in flight, and delivers it only once verified', () => {
    const { chunks, acks, delivered, receiver } = transfer();
    const { bytes } = JSON.parse(message.snapshot.data) as { bytes: number };
    expect(chunks.length).toBe(Math.ceil(bytes / CHUNK));
    expect(chunks.every((c) => c.data.length <= CHUNK)).toBe(true);
    expect(chunks.map((c) => c.offset)).toEqual(chunks.map((_, i) => i * CHUNK));
    expect(chunks.map((c) => c.done)).toEqual(chunks.map((_, i) => i === chunks.length - 1));
    expect(acks.at(-1)).toMatchObject({ next: bytes });
    expect(acks.some((a) => a.error)).toBe(false);
    expect(delivered).toEqual([message]);

    const { file, store } = receiver.takeVerified(message.snapshot.data)!;
    expect(store).toBeUndefined(); // the JSON form is kept as it came
    const restored = LedgerStateMachine.restoreFrom(readSnapshotRecords(file, () => undefined));
    expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(ledger));
  });

  it("sends the source's snapshot when the core's message names an earlier compaction point", () => {
    // A leader whose saved snapshot is a compaction point sends a copy of its store made when a follower needed one
    // (node.ts): the core's message names the compaction point, the copy is later, and the follower installs the
    // snapshot the file holds.
    const early = { ...message, snapshot: { ...message.snapshot, meta: { ...message.snapshot.meta, index: 1_000 } } };
    const { chunks, delivered } = transfer({ message: early });
    expect(source.meta.index).toBe(3_000);
    expect(chunks.every((c) => c.meta.index === 3_000)).toBe(true);
    expect(delivered.map((m) => m.snapshot.meta)).toEqual([source.meta]);
  });

  it('refuses a transfer whose bytes do not match the checksum, delivering nothing', () => {
    const { acks, delivered } = transfer({
      tamper: (c) => {
        if (c.offset !== CHUNK * 2) return;
        // Still valid JSON (a price of 4 instead of 3): only the checksum can tell.
        const data = Buffer.from(c.data);
        data[data.indexOf('"price":3') + 8] = '4'.charCodeAt(0);
        c.data = data;
      },
    });
    expect(acks.at(-1)?.error).toMatch(/checksum mismatch/);
    expect(delivered).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'follower')).filter((f) => f.startsWith('snapshot.recv'))).toEqual([]);
  });

  it("refuses a snapshot of another cluster: the chunks' cluster must be the file's and the follower's", () => {
    const { acks, chunks, delivered } = transfer({ tamper: (c) => (c.clusterId = 'another-cluster') });
    expect(acks.filter((a) => a.error).map((a) => a.error)).toEqual([
      'the file is of cluster null, the chunks said another-cluster',
    ]);
    // Refused at the header, in the first chunk: the sender stops after the window it had in flight.
    expect(chunks.length).toBeLessThanOrEqual(IN_FLIGHT);
    expect(delivered).toEqual([]);
  });

  it('starts over from offset 0 when the follower restarted mid-transfer', () => {
    const { chunks, delivered } = transfer({ restartAfter: 5 });
    expect(chunks[4]?.offset).toBe(4 * CHUNK);
    // The chunks already in flight when the follower restarted, then the transfer again from 0.
    const resent = chunks.findIndex((c, i) => i >= 5 && c.offset === 0);
    expect(resent).toBeGreaterThan(4);
    expect(resent).toBeLessThanOrEqual(4 + IN_FLIGHT);
    expect(delivered).toEqual([message]);
  });

  it('resumes from the last acked offset when the core asks again after the acks stopped', () => {
    const { bytes } = JSON.parse(message.snapshot.data) as { bytes: number };
    const last = Math.ceil(bytes / CHUNK);
    const t0 = Date.now();
    // The clock is stubbed only so the test does not wait out the sender's 5 s stall window.
    const now = jest.spyOn(Date, 'now').mockReturnValue(t0);
    try {
      const { chunks, delivered, sender, drain } = transfer({ lose: last });
      expect(delivered).toEqual([]);
      sender.start(message, source); // the core's resend within the stall window: nothing to do
      drain();
      expect(chunks).toHaveLength(last);
      now.mockReturnValue(t0 + 6_000);
      sender.start(message, source);
      drain();
      expect(chunks.slice(last).map((c) => c.offset)).toEqual([(last - 1) * CHUNK]);
      expect(delivered).toEqual([message]);
    } finally {
      now.mockRestore();
    }
  });

  it('goes back once to a lost chunk: the acks of the rest of the window repeat the offset and are ignored', () => {
    const { chunks, delivered, acks } = transfer({ lose: 3 });
    const lost = chunks[2]!.offset;
    expect(chunks.filter((c) => c.offset === lost)).toHaveLength(2);
    const { bytes } = JSON.parse(message.snapshot.data) as { bytes: number };
    // Every chunk once, the lost one's window again (at most IN_FLIGHT resent): not a cascade of rewinds.
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil(bytes / CHUNK) + IN_FLIGHT);
    expect(acks.at(-1)).toMatchObject({ next: bytes });
    expect(delivered).toEqual([message]);
  });
});

describe('a store copy, written once by the follower', () => {
  let root: string;
  let copyFile: string;
  let source: SnapshotSource;
  let message: SnapshotMessage;
  const followerDir = () => path.join(root, 'follower');

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'store-transfer-'));
    fs.mkdirSync(path.join(root, 'follower'));
    // The leader's side as node.ts does it: a copy of a real store, framed over the copy, never written as a file.
    const store = new SqliteOrderStore(path.join(root, 'leader.db'));
    const leader = new LedgerStateMachine(store);
    for (let i = 0; i < 2_000; i++) {
      leader.apply(encodeCommand({ type: 'order', order: orderOf(i) }), i + 1);
    }
    leader.flush();
    copyFile = path.join(root, 'copy.db');
    const state = await store.copyTo(copyFile);
    leader.close();
    const meta = { index: state.appliedIndex, term: 2, config: { voters: ['n1', 'n2'], learners: [] } };
    const members = { n1: { raftAddr: '127.0.0.1:1', httpUrl: 'http://127.0.0.1:2' } };
    const framed = await frameStoreCopy(copyFile, { clusterId: null, ...meta, members }, state, CHUNK);
    const { sha256, bytes } = framed.info;
    source = { path: copyFile, meta, sha256, bytes, framed };
    message = { type: 'Snapshot', from: 'n1', to: 'n2', term: 2, snapshot: coreSnapshot({ ...framed.info }) };
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const storeTransfer = (options: TransferOptions = {}) =>
    runTransfer(followerDir(), message, options.source ?? source, options);

  it('writes the store bytes straight into a store file and delivers a compaction point standing for it', () => {
    const { acks, delivered, receiver } = storeTransfer({ restartAfter: 7 });
    expect(acks.some((a) => a.error)).toBe(false);
    expect(delivered).toHaveLength(1);
    const snapshot = delivered[0]!.snapshot;
    expect(snapshot.meta).toEqual(source.meta);
    // The core is handed the descriptor of the follower's own compaction point, not the leader's stream.
    expect(snapshot.data).not.toBe(message.snapshot.data);
    const received = receiver.takeVerified(snapshot.data)!;
    expect(coreSnapshot(readSnapshotInfo(received.file)).data).toBe(snapshot.data);
    expect(isStoreRef(readSnapshotRecords(received.file, () => undefined))).toBe(true);
    expect(readSnapshotInfo(received.file).header.members).toEqual({
      n1: { raftAddr: '127.0.0.1:1', httpUrl: 'http://127.0.0.1:2' },
    });
    // Byte for byte the leader's copy, at the snapshot's index; the raw stream was never kept.
    expect(fs.readFileSync(received.store!).equals(fs.readFileSync(copyFile))).toBe(true);
    expect(readStoreState(received.store!)?.appliedIndex).toBe(source.meta.index);
    expect(fs.readdirSync(followerDir()).filter((f) => f.startsWith('snapshot.recv'))).toEqual([]);
    fs.rmSync(received.file);
    removeStoreFiles(received.store!);
  });

  it('refuses a store whose bytes do not match the checksum, and removes what it wrote', () => {
    const { acks, delivered } = storeTransfer({
      tamper: (c) => {
        if (c.offset !== CHUNK * 5) return;
        const data = Buffer.from(c.data);
        data[100] = data[100]! ^ 0xff;
        c.data = data;
      },
    });
    expect(acks.at(-1)?.error).toMatch(/checksum mismatch/);
    expect(delivered).toEqual([]);
    expect(fs.readdirSync(followerDir())).toEqual([]);
  });

  it('refuses a stream, checksum intact, whose store does not add up to its head or is broken by a JSON record', () => {
    const copy = fs.readFileSync(copyFile);
    const head = (bytes: number) =>
      JSON.stringify({ kind: 'ledgerStore', version: 3, appliedIndex: source.meta.index, bytes });
    const cases: Array<[string, SnapshotRecord[], RegExp]> = [
      ['short', [head(copy.length + 10), copy], /store bytes, the head says/],
      ['long', [head(copy.length - 10), copy], /more than the \d+ store bytes the head says/],
      ['json', [head(copy.length), copy.subarray(0, 100), '{"k":1}', copy.subarray(100)], /a JSON record inside/],
    ];
    for (const [name, records, error] of cases) {
      const file = path.join(root, name);
      const info = writeSnapshotFile(file, { clusterId: null, ...source.meta, members: {} }, records);
      const { acks, delivered } = storeTransfer({
        source: { path: file, meta: source.meta, sha256: info.sha256, bytes: info.bytes },
      });
      expect(acks.filter((a) => a.error).map((a) => a.error)).toEqual([expect.stringMatching(error)]);
      expect(delivered).toEqual([]);
      expect(fs.readdirSync(followerDir())).toEqual([]);
    }
  });
});
