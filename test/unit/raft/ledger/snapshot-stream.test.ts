import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeCommand, LedgerStateMachine } from '../../../../raft-node/src/ledger';
import fc from 'fast-check';
import {
  readSnapshotInfo,
  readSnapshotRecords,
  SnapshotStreamParser,
  writeSnapshotFile,
  type SnapshotHeader,
} from '../../../../raft-node/src/storage';
import { ledgerSnapshotText } from '../../../support/ledger-snapshot';

/** A ledger of `count` orders over a few accounts and symbols, some rejected (too large), applied in batches. */
function bigLedger(count: number): LedgerStateMachine {
  const ledger = new LedgerStateMachine();
  const batch = 500;
  for (let first = 0, index = 1; first < count; first += batch, index++) {
    const orders = Array.from({ length: Math.min(batch, count - first) }, (_, k) => {
      const i = first + k;
      return {
        orderId: `order-${i}-${'x'.repeat(i % 40)}`,
        account: `acct-${i % 97}`,
        symbol: `SYM${i % 13}`,
        side: i % 3 === 0 ? ('SELL' as const) : ('BUY' as const),
        quantity: i % 101 === 0 ? 20_000 : 1 + (i % 50),
        price: 1 + (i % 200) / 4,
      };
    });
    ledger.apply(encodeCommand({ type: 'orderBatch', orders }), index);
  }
  ledger.apply(encodeCommand({ type: 'halt', reason: 'end of day' }), Math.ceil(count / batch) + 1);
  return ledger;
}

describe('chunked ledger snapshots', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('snapshots a large ledger in records under the bound and restores an identical ledger from them', () => {
    // Large enough for hundreds of records, small enough for the quick loop: 60 000 orders under a 16 KiB bound
    // made this by far the slowest unit file and proved nothing more (the bound, not the ledger's size, decides
    // how large a record gets).
    const count = 15_000;
    const ledger = bigLedger(count);
    const bound = 4 * 1024;
    const sizes: number[] = [];
    const restored = LedgerStateMachine.restoreFrom(
      (function* () {
        for (const record of ledger.snapshotRecords(bound)) {
          sizes.push(Buffer.byteLength(record, 'utf8'));
          yield JSON.parse(record) as unknown;
        }
      })(),
    );
    // Every string the writer produced is under the bound, and there are many of them (no whole-state string).
    expect(Math.max(...sizes)).toBeLessThanOrEqual(bound);
    expect(sizes.length).toBeGreaterThan(200);
    expect(restored.appliedIndex).toBe(ledger.appliedIndex);
    expect(restored.lastSeq).toBe(ledger.lastSeq);
    expect(restored.halted).toBe(true);
    expect(restored.haltReason).toBe('end of day');
    const lastId = `order-${count - 1}-${'x'.repeat((count - 1) % 40)}`;
    expect(restored.getOrder(lastId)).toEqual(ledger.getOrder(lastId));
    expect(restored.getOrder(lastId)).toBeDefined();
    expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(ledger));
  });

  it('round-trips through a snapshot file, and refuses the file when a byte is flipped or the sender named other bytes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-stream-'));
    dirs.push(dir);
    const file = path.join(dir, 'snapshot');
    const ledger = bigLedger(5_000);
    const header = {
      clusterId: 'c-1',
      index: ledger.appliedIndex,
      term: 3,
      config: { voters: ['n1', 'n2'], learners: [] },
      members: { n1: { raftAddr: '127.0.0.1:1', httpUrl: 'http://127.0.0.1:2' } },
    };
    const info = writeSnapshotFile(file, header, ledger.snapshotRecords(8 * 1024));
    expect(info.bytes).toBe(fs.statSync(file).size);
    expect(readSnapshotInfo(file)).toEqual(info);

    let seen: unknown;
    const restored = LedgerStateMachine.restoreFrom(readSnapshotRecords(file, (h) => (seen = h), info.sha256));
    expect(seen).toEqual(header);
    expect(ledgerSnapshotText(restored)).toBe(ledgerSnapshotText(ledger));

    const other = 'f'.repeat(64);
    expect(() => LedgerStateMachine.restoreFrom(readSnapshotRecords(file, () => undefined, other))).toThrow(
      `the sender said ${other}`,
    );
    const bytes = fs.readFileSync(file);
    const at = bytes.indexOf('acct-5"');
    bytes[at + 5] = '6'.charCodeAt(0);
    fs.writeFileSync(file, bytes);
    expect(() => LedgerStateMachine.restoreFrom(readSnapshotRecords(file, () => undefined))).toThrow(
      'checksum mismatch',
    );
  });

  it("reads the header and the trailer from the file's two ends, whatever the records between them hold", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-stream-'));
    dirs.push(dir);
    const file = path.join(dir, 'snapshot');
    const header = { clusterId: null, index: 9, term: 2, config: { voters: ['n1'], learners: [] }, members: {} };
    // Binary records whose last bytes read as length prefixes of what follows them, as a backward search could
    // mistake for the trailer's (a real record's tail is arbitrary bytes).
    const tricky = Array.from({ length: 40 }, (_, i) => {
      const record = Buffer.alloc(4096 + i, 7);
      for (let at = record.length - 200; at < record.length - 4; at += 4) record.writeUInt32LE(record.length - at, at);
      return record;
    });
    const info = writeSnapshotFile(file, header, ['{"kind":"head"}', ...tricky]);
    expect(readSnapshotInfo(file)).toEqual(info);

    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 1));
    expect(() => readSnapshotInfo(file)).toThrow('no trailer record at the end');
    fs.writeFileSync(file, Buffer.concat([bytes, Buffer.from([0])]));
    expect(() => readSnapshotInfo(file)).toThrow(/not a valid snapshot/);
  });

  it('parses a stream pushed in pieces cut anywhere as readSnapshotRecords reads the file, and checks its end', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapshot-stream-'));
    dirs.push(dir);
    const file = path.join(dir, 'snapshot');
    const header = { clusterId: 'c', index: 9, term: 2, config: { voters: ['n1'], learners: [] }, members: {} };
    const records = ['{"kind":"head"}', Buffer.alloc(3000, 1), Buffer.alloc(0), '{"a":1}', Buffer.alloc(5000, 2)];
    const info = writeSnapshotFile(file, header, records);
    const bytes = fs.readFileSync(file);
    const expected = [...readSnapshotRecords(file, () => undefined, info.sha256)];
    const parse = (cuts: number[], data = bytes, size = bytes.length) => {
      const seen: unknown[] = [];
      let head: SnapshotHeader | undefined;
      const parser = new SnapshotStreamParser('test', size, {
        header: (h) => (head = h),
        record: (r) => seen.push(Buffer.isBuffer(r) ? Buffer.from(r) : r),
      });
      let at = 0;
      for (const cut of [...cuts.filter((c) => c < data.length).sort((a, b) => a - b), data.length]) {
        parser.push(data.subarray(at, cut));
        at = cut;
      }
      return { seen, head, end: (sha?: string) => parser.end(sha) };
    };
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 12 }), (cuts) => {
        const { seen, head, end } = parse(cuts);
        expect(head).toEqual(header);
        expect(seen).toEqual(expected);
        expect(end(info.sha256)).toBe(info.sha256);
      }),
    );
    expect(() => parse([], bytes.subarray(0, bytes.length - 1)).end()).toThrow(/truncated at byte/);
    expect(() => parse([], bytes, bytes.length - 1)).toThrow(/more than the \d+ bytes announced/);
    const flipped = Buffer.from(bytes);
    flipped[200] = flipped[200]! ^ 1;
    expect(() => parse([], flipped).end(info.sha256)).toThrow('checksum mismatch');
  });
});
