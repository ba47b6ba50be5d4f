import type { NodeId } from './types';

/** A ReadIndex request waiting for a quorum of heartbeat acknowledgements (thesis §6.4). */
export interface PendingRead {
  context: string;
  index: number;
  /** Who asked: the leader itself or a follower that forwarded the read. */
  from: NodeId;
  acks: Set<NodeId>;
}

/** ReadIndex requests in arrival order. A quorum for one request confirms every earlier one too. */
export class ReadOnlyQueue {
  private queue: PendingRead[] = [];

  has(context: string): boolean {
    return this.queue.some((r) => r.context === context);
  }

  add(context: string, index: number, from: NodeId): void {
    this.queue.push({ context, index, from, acks: new Set() });
  }

  /** Records an acknowledgement; returns the acks for `context` or null if it is not pending. */
  ack(context: string, voter: NodeId): Set<NodeId> | null {
    const req = this.queue.find((r) => r.context === context);
    if (!req) return null;
    req.acks.add(voter);
    return req.acks;
  }

  /** Removes and returns every request up to and including `context`. */
  releaseThrough(context: string): PendingRead[] {
    const i = this.queue.findIndex((r) => r.context === context);
    if (i < 0) return [];
    return this.queue.splice(0, i + 1);
  }

  lastContext(): string | null {
    return this.queue[this.queue.length - 1]?.context ?? null;
  }

  clear(): void {
    this.queue = [];
  }
}
