import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Entry, HardState, Snapshot } from '../../../../raft-node/src/core';
import { RaftStorage } from '../../../../raft-node/src/storage';
import { snapshotArgs } from '../../../support/ledger-snapshot';

/** What the storage should hold: the snapshot point, the entries after it and the hard state. */
interface ModelState {
  baseIndex: number;
  baseTerm: number;
  entries: Entry[];
  hardState: HardState;
  snapshot: Snapshot | null;
}

type Action =
  | { kind: 'append'; back: number; count: number }
  | { kind: 'hardState'; newTerm: boolean; commitShare: number }
  | { kind: 'sync' }
  | { kind: 'snapshot'; share: number; pastEnd: number }
  | { kind: 'crash' };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      back: fc.nat(3),
      count: fc.integer({ min: 1, max: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hardState' as const),
      newTerm: fc.boolean(),
      commitShare: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  { weight: 3, arbitrary: fc.constant<Action>({ kind: 'sync' }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      share: fc.double({ min: 0, max: 1, noNaN: true }),
      pastEnd: fc.integer({ min: -3, max: 2 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant<Action>({ kind: 'crash' }) },
);

const config = { voters: ['n1'], learners: [] };
const lastIndex = (m: ModelState) => m.baseIndex + m.entries.length;
const clone = (m: ModelState): ModelState => ({ ...m, entries: m.entries.slice(), hardState: { ...m.hardState } });

describe('RaftStorage against a model', () => {
  it('recovers exactly what was synced, through appends, conflicts, hard states, snapshots and crashes', () => {
    const dirs: string[] = [];
    try {
      fc.assert(
        fc.property(fc.array(actionArb, { minLength: 1, maxLength: 25 }), (actions) => {
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-storage-model-'));
          dirs.push(dir);
          let storage = RaftStorage.open(dir, { preallocateBytes: 512 });
          const empty: ModelState = {
            baseIndex: 0,
            baseTerm: 0,
            entries: [],
            hardState: { term: 1, vote: null, commit: 0 },
            snapshot: null,
          };
          let current = clone(empty);
          let durable = clone({ ...empty, hardState: { term: 0, vote: null, commit: 0 } });
          let counter = 0;
          storage.setHardState(current.hardState);

          const checkRecovered = () => {
            const { restored } = storage;
            expect(restored.hardState).toEqual(durable.hardState);
            expect(restored.entries).toEqual(durable.entries);
            expect(restored.snapshot).toEqual(durable.snapshot);
          };

          for (const action of actions) {
            switch (action.kind) {
              case 'append': {
                // Start at most `back` entries before the end, never at or below what is committed.
                const floor = Math.max(current.hardState.commit, current.baseIndex);
                const start = Math.max(floor + 1, lastIndex(current) + 1 - action.back);
                if (start <= lastIndex(current))
                  current.hardState = { ...current.hardState, term: current.hardState.term + 1 };
                const entries = Array.from({ length: action.count }, (_, i): Entry => ({
                  index: start + i,
                  term: current.hardState.term,
                  type: 'normal',
                  data: `d${(counter += 1)}`,
                }));
                storage.setHardState(current.hardState);
                storage.append(entries);
                current.entries = [...current.entries.slice(0, start - current.baseIndex - 1), ...entries];
                break;
              }
              case 'hardState': {
                const { commit, term } = current.hardState;
                const newCommit = commit + Math.floor(action.commitShare * (lastIndex(current) - commit));
                current.hardState = {
                  term: action.newTerm ? term + 1 : term,
                  vote: action.newTerm ? 'n1' : current.hardState.vote,
                  commit: newCommit,
                };
                storage.setHardState(current.hardState);
                break;
              }
              case 'sync':
                storage.sync();
                durable = clone(current);
                break;
              case 'snapshot': {
                // A local snapshot at or below the commit index, or (pastEnd > 0) one from a leader past our log.
                const local =
                  current.baseIndex +
                  Math.floor(action.share * Math.max(0, current.hardState.commit - current.baseIndex));
                const index = action.pastEnd > 0 ? lastIndex(current) + action.pastEnd : local;
                const term =
                  action.pastEnd > 0
                    ? current.hardState.term
                    : index === current.baseIndex
                      ? current.baseTerm
                      : (current.entries[index - current.baseIndex - 1] as Entry).term;
                const [snapshot, file] = snapshotArgs(dir, { index, term, config });
                storage.saveSnapshot(snapshot, file);
                current.entries = action.pastEnd > 0 ? [] : current.entries.slice(index - current.baseIndex);
                current.baseIndex = index;
                current.baseTerm = term;
                current.snapshot = snapshot;
                durable = clone(current);
                if (index > current.hardState.commit) {
                  // What the core does next: a snapshot covers committed entries only.
                  current.hardState = { ...current.hardState, commit: index };
                  storage.setHardState(current.hardState);
                }
                break;
              }
              case 'crash':
                // The process dies: nothing buffered survives; reopening must give back what was durable.
                storage = RaftStorage.open(dir, { preallocateBytes: 512 });
                checkRecovered();
                current = clone(durable);
                break;
            }
            expect(storage.hardState).toEqual(current.hardState);
            expect(storage.firstIndex).toBe(current.baseIndex + 1);
            expect(storage.entries(storage.firstIndex, storage.lastIndex + 1)).toEqual(current.entries);
          }
          storage.close();
          durable = clone(current);
          storage = RaftStorage.open(dir);
          checkRecovered();
          storage.close();
        }),
        { numRuns: 40 },
      );
    } finally {
      for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
