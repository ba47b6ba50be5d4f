import type { NodeId, ProgressState } from './types';

/** Last indexes of the Append messages in flight to one follower, oldest first, bounded by maxInflightMsgs. */
export class Inflights {
  private readonly lastIndexes: number[] = [];

  constructor(private readonly capacity: number) {}

  add(lastIndex: number): void {
    if (this.full()) throw new Error('inflights full');
    this.lastIndexes.push(lastIndex);
  }

  /** Frees every message whose last index is <= index (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && this.lastIndexes[n]! <= index) n++;
    this.lastIndexes.splice(0, n);
  }

  freeFirstOne(): void {
    this.lastIndexes.shift();
  }

  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }

  count(): number {
    return this.lastIndexes.length;
  }

  reset(): void {
    this.lastIndexes.length = 0;
  }
}

/**
 * The leader's view of one follower. In `probe` one Append at a time finds the match point; in `replicate`
 * Appends are pipelined (next advances optimistically) up to the inflight bound; in `snapshot` nothing is sent
 * until the snapshot is acknowledged (or given up on after a timeout).
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an Append was sent and not yet answered (or a heartbeat response came). */
  probeSent = false;
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state, to retry a snapshot message that was lost. */
  snapshotTicks = 0;
  /** Commit index carried by the last Append sent. */
  sentCommit = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(
    readonly id: NodeId,
    next: number,
    maxInflight: number,
    public learner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Acknowledgement up to `index`; false if it is stale. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the Append whose prevIndex was `rejected`; `probeIndex` is the leader's guess of the last
   * index that matches (from the follower's conflict hint). Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: number, probeIndex: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, probeIndex + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Record an Append carrying entries up to `lastIndex` (or none). */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
