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
import { coreSnapshot, readSnapshotRecords, writeSnapshotFile } from '../../../../raft-node/src/storage';
import { ledgerSnapshotText } from '../../../support/ledger-snapshot';

/**
 * The chunked InstallSnapshot between a real sender and a real receiver on real files, wired directly (what the
 * transport would carry is handed over as is; the process test runs the same over TCP between node processes).
 * Corrupting a chunk in flight is a fault only this wiring can produce, so it is done here.
 */
const logger = createLogger('test', 'error');
const CHUNK = 4096;
const IN_FLIGHT = 4;

function ledgerOf(orders: number): LedgerStateMachine {
  const ledger = new LedgerStateMachine();
  for (let i = 0; i < orders; i++) {
    const order = {
      orderId: `o-${i}`,
      account: `a${i % 7}`,
      symbol: 'ACME',
      side: 'BUY' as const,
      quantity: 1,
      price: 3,
    };
    ledger.apply(encodeCommand({ type: 'order', order }), i + 1);
  }
  return ledger;
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

  /**
   * Runs a transfer to completion; `tamper` may change a chunk on its way, `restartAfter` restarts the receiver,
   * `lose` drops the chunk sent at that position (as a transport that reconnected would).
   */
  function transfer(
    options: {
      tamper?: (c: SnapshotChunkMessage) => void;
      restartAfter?: number;
      lose?: number;
      message?: SnapshotMessage;
    } = {},
  ) {
    const chunks: SnapshotChunkMessage[] = [];
    const acks: SnapshotAckMessage[] = [];
    const delivered: SnapshotMessage[] = [];
    let queue: Array<() => number | void> = [];
    const newReceiver = () =>
      new SnapshotReceiver({
        self: 'n2',
        receivePath: path.join(root, 'follower', 'snapshot.recv.tmp'),
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
          if (chunks.length === options.restartAfter) receiver = newReceiver(); // the follower restarted
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
    sender.start(options.message ?? message, source);
    drain();
    return { chunks, acks, delivered, receiver, sender, drain };
  }

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

    const file = receiver.takeVerified(message.snapshot.data)!;
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
    const { acks, delivered } = transfer({ tamper: (c) => (c.clusterId = 'another-cluster') });
    expect(acks.at(-1)?.error).toBe('the file is of cluster null, the chunks said another-cluster');
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
